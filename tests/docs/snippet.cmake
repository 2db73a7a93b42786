# SPDX-License-Identifier: Apache-2.0
# cmake -DREADME=<file> -DSOURCE=<file> -P snippet.cmake: fails unless README contains, verbatim,
# the lines of SOURCE between its two "// [readme]" marker lines.
file(READ "${SOURCE}" source)
string(FIND "${source}" "// [readme]\n" begin)
string(FIND "${source}" "// [readme]\n" end REVERSE)
if(begin EQUAL -1 OR end LESS_EQUAL begin)
  message(FATAL_ERROR "${SOURCE}: expected two \"// [readme]\" marker lines around the README snippet")
endif()
string(LENGTH "// [readme]\n" marker_length)
math(EXPR begin "${begin} + ${marker_length}")
math(EXPR length "${end} - ${begin}")
string(SUBSTRING "${source}" ${begin} ${length} snippet)
if(snippet STREQUAL "")
  message(FATAL_ERROR "${SOURCE}: the README snippet is empty")
endif()

file(READ "${README}" readme)
string(FIND "${readme}" "${snippet}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not contain the code of ${SOURCE} between its markers verbatim; "
                      "paste this into the README's usage block:\n${snippet}")
endif()
message(STATUS "README.md contains the ${SOURCE} snippet at offset ${at}")
