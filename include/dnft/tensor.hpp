// SPDX-License-Identifier: Apache-2.0
// dnft: the tensor layer (tensor_view, memory spaces, tensor_traits, as_view). Adapters for
// Eigen and xtensor are opt-in: dnft/adapters/eigen.hpp, dnft/adapters/xtensor.hpp.
#pragma once

#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/tensor_view.hpp"
#include "dnft/tensor/traits.hpp"
