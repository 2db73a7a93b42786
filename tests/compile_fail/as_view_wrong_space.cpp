// SPDX-License-Identifier: Apache-2.0
// ko: as_view<host_space> of a tensor whose type says it lives on the device.
#include "dnft/tensor.hpp"

#if defined(DNFT_KO)
using space = dnft::device_space;
#else
using space = dnft::host_space;
#endif

dnft::index_t check(float* p) {
  const auto v = dnft::make_view(p, {4}, space{});
  return dnft::as_view<dnft::host_space>(v).extent(0);
}
