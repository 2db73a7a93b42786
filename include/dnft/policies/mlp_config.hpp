// SPDX-License-Identifier: Apache-2.0
// dnft: mlp_config and the parameter layout types of the reference MLP, shared by the host model
// (policies/mlp.hpp) and the CUDA model (cuda/policies/mlp.cuh); needs neither Eigen nor CUDA.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The shape and initialisation of an mlp_policy (host) or cuda::mlp_policy (device).
//!
//! The network reads one input column per sample,
//!   z = [ x (dim) | sin(w_k t) (time_frequencies) | cos(w_k t) (time_frequencies) | e[c] (cond_dim) ],
//! with angular frequencies w_k geometrically spaced from time_min_frequency to
//! time_max_frequency (k = 0 .. F-1; a single frequency is time_min_frequency) and e the
//! learned condition embedding table of num_conditions + 1 rows (the last row is the null
//! condition used by classifier-free guidance). Then `depth` hidden layers of `width` units
//! with SiLU activations, and a linear output layer of `dim` units: the velocity.
struct mlp_config {
  index_t dim = 2;                    //!< D: elements per sample (input x and output v)
  int num_conditions = 0;             //!< K: condition ids 0 .. K-1; K itself is the null condition
  index_t cond_dim = 32;              //!< E: width of the condition embedding (>= 1)
  index_t time_frequencies = 16;      //!< F: sinusoidal time features are 2F (sin and cos), >= 1
  double time_min_frequency = 1.0;    //!< lowest angular frequency, in radians per unit of t (> 0)
  double time_max_frequency = 200.0;  //!< highest angular frequency (>= time_min_frequency)
  index_t width = 256;                //!< units per hidden layer (>= 1)
  index_t depth = 3;                  //!< number of hidden layers, each followed by SiLU (>= 1)
  std::uint64_t seed = 0;             //!< initialisation seed (see mlp_policy)
};

//! What a parameter tensor of a model is, for optimizers that treat groups differently
//! (e.g. no weight decay on biases) and for checkpoints.
enum class parameter_kind { embedding, weight, bias };

//! @brief One named tensor inside a flat parameter buffer: a row-major array of `shape`
//! stored at parameters()[offset, offset + size).
struct parameter_tensor {
  std::string name;            //!< PyTorch-style: "cond_embedding.weight", "layers.0.weight", "layers.0.bias"
  parameter_kind kind;         //!< embedding table, linear weight or linear bias
  std::vector<index_t> shape;  //!< row-major extents: (K + 1, E), (out, in) or (out)
  index_t offset = 0;          //!< first element in the flat buffer
  index_t size = 0;            //!< number of elements (the product of shape)
};

}  // namespace dnft
