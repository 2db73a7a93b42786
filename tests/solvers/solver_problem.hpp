// SPDX-License-Identifier: Apache-2.0
// Shared set-up of the solver tests: a Gaussian problem with its exact flow map.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "dnft/tensor/tensor_view.hpp"
#include "support/gaussian_field.hpp"
#include "support/random_data.hpp"

namespace dnft_test {

//! B samples of D dimensions with conditions 0, 1, 2, 0, ...; x1 the states at the grid start.
struct solver_problem {
  int B = 4, D = 6;
  gaussian_field<double> f = gaussian_field<double>::make(6, 3, 1);
  std::vector<double> x1 = normal_data(24, 7);
  std::vector<int> c{0, 1, 2, 0};

  //! Runs `solver` from x1 at grid.front() and returns max |x - phi(x1)| at grid.back().
  template <class S>
  double error(S&& solver, const std::vector<double>& grid) {
    std::vector<double> x = x1;
    solver.sample(f, dnft::make_view(x.data(), {B, D}), c, grid);
    double e = 0;
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d)
        e = std::max(e, std::abs(x[std::size_t(i * D + d)] -
                                 f.flow(x1[std::size_t(i * D + d)], grid.front(), grid.back(), c[std::size_t(i)], d)));
    return e;
  }
};

}  // namespace dnft_test
