#!/usr/bin/env bash
# The CUDA check for a machine with a GPU: configures a Release build of dnft's CUDA tests and
# benchmarks only (sm_90 by default), builds them, runs them, and writes what it saw to $OUT
# (./device-results when OUT is unset), seven files (the device tool brings back eight at most):
# summary.json (the machine, and each step's exit status and seconds), tests.log,
# bench_nft_loss.json, bench_noise.json, bench_mlp.json, demo_summary.json, and run.log (the
# machine in full, then the configure, build, benchmark and demo output).
#   tests: every suite of dnft_test_cuda (tests/cuda/test_*.cu: the executor, nft_loss, the other
#     backends against the host backends, cuda::mlp_policy against the host model, the trainers
#     with a device policy, and the cuda_host emulations);
#   benchmarks: nft_loss (bench_nft_loss.json); fill_normal and forward_noise with Philox in the
#     kernel, each with its fraction of a device-to-device copy (bench_noise.json); the MLP on
#     cuBLAS against a raw cuBLAS baseline (bench_mlp.json);
#   demo: the toy-GenEval demo (examples/geneval_demo.cpp) with --device cuda on tiny settings
#     (its summary.json as demo_summary.json, its output in run.log); built only when Eigen and
#     CLI11 are found (staged by --stage-deps).
# Aims at about 5 minutes on an H200 with 16 cores and never takes more than DNFT_DEVICE_BUDGET
# seconds (default 450): every step has its own time limit, capped by what is left of the budget,
# and a failing step does not stop the others. Everything is built in one step, one translation
# unit per test file (DNFT_CUDA_TEST_BATCH=1), so the cores compile in parallel.
#
# Usage:
#   scripts/device-check.sh                      on the GPU machine
#   scripts/device-check.sh --stage-deps [DIR]   on a machine that has the packages (scripts/deps.sh):
#       copies doctest, Random123, nlohmann-json, Google Benchmark, Eigen (for the host model
#       test_mlp.cu compares with, and the demo) and CLI11 (the demo) into DIR (default build/device-deps, which git ignores), for a
#       GPU machine that lacks them and cannot fetch them; carry DIR there (with the device
#       tool: carry ["build/device-deps"], command "OUT=$OUT scripts/device-check.sh").
# Environment: OUT, DNFT_CUDA_ARCH (default 90), DNFT_DEVICE_DEPS (default build/device-deps),
#   DNFT_DEVICE_BUILD (default build/device-check), JOBS (default: all cores), DNFT_DEVICE_BUDGET.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
deps=${DNFT_DEVICE_DEPS:-$root/build/device-deps}

if [[ ${1:-} == --stage-deps ]]; then
  set -e
  dir=${2:-$deps}
  mkdir -p "$dir/include" "$dir/lib/x86_64-linux-gnu/cmake"
  cp -r /usr/include/doctest /usr/include/Random123 /usr/include/benchmark /usr/include/nlohmann \
    /usr/include/eigen3 /usr/include/CLI "$dir/include/"
  # nlohmann-json's and Eigen's packages are relocatable too (paths relative to their configs)
  mkdir -p "$dir/share/cmake" "$dir/share/eigen3"
  cp -r /usr/share/cmake/nlohmann_json "$dir/share/cmake/"
  cp -r /usr/share/eigen3/cmake "$dir/share/eigen3/"
  # Google Benchmark's package is relocatable (paths relative to its config file); doctest's
  # Debian config hard-codes /usr, so only its header travels (the check finds it by path).
  cp -r /usr/lib/x86_64-linux-gnu/cmake/benchmark "$dir/lib/x86_64-linux-gnu/cmake/"
  cp -a /usr/lib/x86_64-linux-gnu/libbenchmark.so* /usr/lib/x86_64-linux-gnu/libbenchmark_main.a "$dir/lib/x86_64-linux-gnu/"
  du -sh "$dir"
  exit 0
fi

out=${OUT:-$root/device-results}
mkdir -p "$out"
arch=${DNFT_CUDA_ARCH:-90}
build=${DNFT_DEVICE_BUILD:-$root/build/device-check}
jobs=${JOBS:-$(nproc)}
budget=${DNFT_DEVICE_BUDGET:-450}
t_begin=$(date +%s)
declare -A rc secs

step() {  # step NAME LIMIT_SECONDS LOG command...: runs with a time limit, records rc and seconds
  local name=$1 limit=$2 log=$3
  shift 3
  local t0=$(date +%s)
  local left=$((budget - (t0 - t_begin)))
  ((left < limit)) && limit=$left
  if ((limit < 5)); then
    echo "== $name: skipped, the time budget of $budget s is spent" >>"$log"
    rc[$name]=124
    secs[$name]=0
    return
  fi
  echo "== $name: $*" >>"$log"
  timeout "$limit" "$@" >>"$log" 2>&1
  rc[$name]=$?
  secs[$name]=$(($(date +%s) - t0))
  echo "== $name: exit ${rc[$name]} after ${secs[$name]} s" >>"$log"
}

# ---- what machine is this -----------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown) $(git -C "$root" status --porcelain 2>/dev/null | wc -l) changed files"
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  nvcc --version 2>&1 | tail -2
  cmake --version 2>&1 | head -1
  echo "c++: $(c++ --version 2>&1 | head -1)"
  echo "cores: $(nproc)"
} >"$out/run.log"

# ---- configure: a small project over the library, tests/cuda and bench/cuda ----------------
# (needs doctest, Random123, Google Benchmark, the CUDA toolkit and Eigen (for test_mlp.cu only);
# not xtensor)
mkdir -p "$build/src"
cat >"$build/src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.23)
project(dnft_device_check LANGUAGES CXX CUDA)
set(DNFT_ENABLE_CUDA ON CACHE STRING "")
add_subdirectory("$root" dnft)
include("$root/cmake/dnftWarnings.cmake")
find_package(doctest QUIET)
if(NOT TARGET doctest::doctest)
  find_path(DNFT_DOCTEST_INCLUDE doctest/doctest.h REQUIRED)
  add_library(doctest::doctest INTERFACE IMPORTED)
  set_target_properties(doctest::doctest PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${DNFT_DOCTEST_INCLUDE}")
endif()
enable_testing()
add_subdirectory("$root/tests/cuda" tests_cuda)
add_subdirectory("$root/bench/cuda" bench_cuda)
# the toy-GenEval demo with its CUDA part (as examples/CMakeLists.txt builds it), when Eigen and CLI11 are here
find_package(Eigen3 3.4 QUIET NO_MODULE)
find_path(DNFT_CLI11_INCLUDE CLI/CLI.hpp)
if(TARGET Eigen3::Eigen AND DNFT_CLI11_INCLUDE)
  file(GLOB demo_parts "$root/examples/geneval_demo/*.cpp" "$root/examples/geneval_demo/*.cu")
  add_executable(dnft_geneval_demo "$root/examples/geneval_demo.cpp" \${demo_parts})
  target_include_directories(dnft_geneval_demo PRIVATE "$root/examples" "\${DNFT_CLI11_INCLUDE}")
  target_link_libraries(dnft_geneval_demo PRIVATE dnft::cuda Eigen3::Eigen)
  target_compile_definitions(dnft_geneval_demo PRIVATE DNFT_EXAMPLE_CUDA)
  dnft_cuda_target(dnft_geneval_demo)
  file(WRITE "\${CMAKE_BINARY_DIR}/demo-defined" "")
endif()
EOF
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log=$out/run.log
# No binary of an earlier call may pass for this one's when its build fails.
test_exe=$build/out/tests_cuda/dnft_test_cuda
demo_exe=$build/out/dnft_geneval_demo
rm -f "$build/out/demo-defined" "$test_exe" "$demo_exe" "$build"/out/bench_cuda/dnft_bench_cuda_{nft_loss,noise,mlp}
step configure 90 "$log" cmake -S "$build/src" -B "$build/out" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_PREFIX_PATH="$deps" -DDNFT_WERROR=OFF -DDNFT_CUDA_TEST_BATCH=1
# One build of everything (the demo only where it is defined), going on past a failing target
# (-k), so a broken benchmark does not cost the tests.
targets=(dnft_test_cuda dnft_bench_cuda_nft_loss dnft_bench_cuda_noise dnft_bench_cuda_mlp)
[[ -f $build/out/demo-defined ]] && targets+=(dnft_geneval_demo)
keep_going=(-- -k)
((${#generator[@]})) && keep_going=(-- -k 0)
step build 360 "$log" cmake --build "$build/out" -j "$jobs" --target "${targets[@]}" "${keep_going[@]}"

# ---- tests: every suite (the device ones need the GPU: 77 means none was usable) -------------
tlog=$out/tests.log
: >"$tlog"
if [[ -x $test_exe ]]; then
  step tests 150 "$tlog" "$test_exe" --dnft-needs-device --duration=true
else
  rc[tests]=-1
  secs[tests]=0
  echo "dnft_test_cuda was not built: see run.log" >>"$tlog"
fi

# ---- benchmarks: medians of 3 repetitions, JSON ---------------------------------------------
# (bench_mlp has 96 benchmarks, about 1 s each at 0.1 s per repetition)
blog=$out/run.log
declare -A bench_limit=([nft_loss]=150 [noise]=150 [mlp]=240)
declare -A bench_min_time=([nft_loss]=0.2 [noise]=0.2 [mlp]=0.1)
for b in nft_loss noise mlp; do
  exe=$build/out/bench_cuda/dnft_bench_cuda_$b
  if [[ -x $exe ]]; then
    step "bench_$b" "${bench_limit[$b]}" "$blog" "$exe" --benchmark_min_time="${bench_min_time[$b]}" \
      --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_out="$out/bench_$b.json" --benchmark_out_format=json
  else
    rc[bench_$b]=-1
    secs[bench_$b]=0
    echo "dnft_bench_cuda_$b was not built: see run.log" >>"$blog"
  fi
done

# ---- the demo on the device: tiny settings (a short pre-training on the host, 1024 images per method)
dlog=$out/run.log
if [[ -x $demo_exe ]]; then
  rm -rf "$build/demo-out"
  step demo 120 "$dlog" "$demo_exe" --device cuda --pretrain-steps 200 --budget 1024 --no-plots --threads 0 --out "$build/demo-out"
  cp "$build/demo-out/summary.json" "$out/demo_summary.json" 2>>"$dlog"
else
  rc[demo]=-1
  secs[demo]=0
  echo "dnft_geneval_demo was not built (Eigen and CLI11 are needed: --stage-deps): see the build above" >>"$dlog"
fi

# ---- summary ---------------------------------------------------------------------------------
{
  echo "{"
  echo "  \"device\": \"$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)\","
  echo "  \"nvcc\": \"$(nvcc --version 2>/dev/null | tail -1)\","
  echo "  \"cores\": $(nproc),"
  echo "  \"commit\": \"$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)\","
  echo "  \"cuda_architectures\": \"$arch\","
  echo "  \"doctest\": \"$(grep -E '^\[doctest\] (test cases|assertions|Status)' "$tlog" | tr -s ' ' | tr '\n' ';' | sed 's/"/\\"/g')\","
  echo "  \"no_device_message\": \"$(grep -m1 'no CUDA device' "$tlog" | sed 's/"/\\"/g')\","
  echo "  \"steps\": {"
  first=1
  for s in configure build tests bench_nft_loss bench_noise bench_mlp demo; do
    [[ $first == 1 ]] || echo ","
    first=0
    printf '    "%s": {"exit": %s, "seconds": %s}' "$s" "${rc[$s]:--1}" "${secs[$s]:-0}"
  done
  echo ""
  echo "  },"
  echo "  \"total_seconds\": $(($(date +%s) - t_begin))"
  echo "}"
} >"$out/summary.json"
cat "$out/summary.json"
grep -E '^\[doctest\]|no CUDA device' "$tlog" || true
for s in configure build tests bench_nft_loss bench_noise bench_mlp demo; do
  [[ ${rc[$s]:--1} == 0 ]] || exit 1
done
exit 0
