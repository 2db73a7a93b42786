// SPDX-License-Identifier: Apache-2.0
// ko: a DLPack view of bool elements (DLPack has no portable bool dtype before 0.8).
#include "dnft/adapters/dlpack.hpp"

#include <cstdint>

#if defined(DNFT_KO)
using element = bool;
#else
using element = std::uint8_t;
#endif

dnft::index_t check(const DLTensor& t) { return dnft::dlpack_view<element, 1>(t).size(); }
