// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of flow_grpo_loss: per sample one pass for the sums, one for the
// gradient, threaded over samples; results independent of the thread count.
#pragma once
// IWYU pragma: private

#include <string_view>
#include <vector>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/flow_grpo.hpp"
#include "dnft/execution.hpp"

namespace dnft {

template <>
struct flow_grpo_loss_backend<host_executor> {
  template <bool HasRef, bool HasGrad, class T, class LogP, class Adv>
  static flow_grpo_stats run(const host_executor& ex, const detail::flow_grpo_args<T, host_space, LogP, Adv>& a,
                             const detail::flow_grpo_params& p, std::string_view fn) {
    const index_t B = a.x.batch, D = a.x.elements;
    std::vector<detail::flow_grpo_sample> per(static_cast<std::size_t>(B));
    std::vector<unsigned char> bad(static_cast<std::size_t>(B), 0);
    ex.bulk(B, 4 * D, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) {
        detail::flow_grpo_sums s;
        for (index_t d = 0; d < D; ++d)
          detail::flow_grpo_accumulate<HasRef>(s, p, a.x(i, d), a.x_next(i, d), a.v_theta(i, d),
                                               HasRef ? a.v_ref(i, d) : T(0));
        if (!detail::isfinite(s.dev_sq + s.kl_sq)) {
          bad[std::size_t(i)] = 1;
          continue;
        }
        const auto r = detail::flow_grpo_finish_sample(s, double(a.log_prob_sample[i]), double(a.adv[i]), double(D),
                                                       double(B), p, HasRef);
        per[std::size_t(i)] = r;
        if constexpr (HasGrad)
          for (index_t d = 0; d < D; ++d)
            a.grad(i, d) = detail::flow_grpo_grad_element<HasRef>(p, r.coef_dev, r.coef_kl, a.x(i, d), a.x_next(i, d),
                                                                  a.v_theta(i, d), HasRef ? a.v_ref(i, d) : T(0));
      }
    });
    for (index_t i = 0; i < B; ++i)
      if (bad[std::size_t(i)]) {
        index_t d = 0;
        double v = 0;
        auto report = [&](std::string_view name) {
          detail::fail<value_error>(fn, name,
                                    "non-finite value " + detail::num(v) + " at sample " + std::to_string(i) +
                                        ", element " + std::to_string(d));
        };
        if (detail::find_nonfinite(a.x, i, d, v)) report("x");
        if (detail::find_nonfinite(a.x_next, i, d, v)) report("x_next");
        if (detail::find_nonfinite(a.v_theta, i, d, v)) report("v_theta");
        if (HasRef && detail::find_nonfinite(a.v_ref, i, d, v)) report("v_ref");
        detail::fail<value_error>(fn, "", "the sums of sample " + std::to_string(i) + " overflowed");
      }
    return detail::flow_grpo_reduce(
        B, D, p, [&](index_t i) -> const detail::flow_grpo_sample& { return per[std::size_t(i)]; },
        [&](index_t i) { return double(a.log_prob_sample[i]); });
  }
};

}  // namespace dnft
