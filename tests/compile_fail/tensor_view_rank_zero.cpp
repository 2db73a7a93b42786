// SPDX-License-Identifier: Apache-2.0
// ko: a tensor_view of rank 0.
#include "dnft/tensor/tensor_view.hpp"

#if defined(DNFT_KO)
constexpr std::size_t rank = 0;
#else
constexpr std::size_t rank = 1;
#endif

dnft::index_t check(const dnft::tensor_view<float, rank>& v) { return v.size(); }
