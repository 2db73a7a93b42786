// SPDX-License-Identifier: Apache-2.0
// dnft: the tensor concepts (tensor_like, tensor_in, view_type), defined with the tensor layer.
#pragma once

//! @file
//! @par Customization
//! A type becomes a tensor by specialising dnft::tensor_traits (see dnft/tensor/traits.hpp):
//! one static `view(T&)` returning a dnft::tensor_view. Nothing else is required.
#include "dnft/tensor/traits.hpp"
