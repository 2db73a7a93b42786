// SPDX-License-Identifier: Apache-2.0
// dnft: guided_field, classifier-free guidance for any guidable velocity field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dnft/algorithm/common.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "dnft/concepts/policy.hpp"
#include "dnft/detail/views.hpp"
#include "dnft/execution.hpp"

namespace dnft {

//! @brief Classifier-free guidance as a velocity field:
//!     v = v_u + w (v_c - v_u),   v_c = field(x, t, c),  v_u = field(x, t, field.null_condition()).
//!
//! Each predict() evaluates the wrapped field twice on B samples (once when w = 1: then v = v_c
//! exactly). It is itself a dnft::velocity_field (and guidable: its null condition is the
//! field's), so every solver samples with guidance unchanged:
//! @code
//!   dnft::guided_field guided(policy, 4.5);
//!   solver.sample(guided, x, conditions, grid);
//! @endcode
//! The wrapped field is held by reference and must outlive the wrapper.
//! @tparam P     the wrapped field (a dnft::guidable_field)
//! @tparam Exec  executor of the combination and the v_u buffer (the field's memory space)
template <guidable_field P, class Exec = host_executor>
class guided_field {
 public:
  using value_type = policy_value_t<P>;
  using space_type = policy_space_t<P>;
  using condition_type = condition_t<P>;

  //! @param field  the wrapped field
  //! @param scale  the guidance weight w (finite; 1 = no guidance, 0 = unconditional)
  //! @throws value_error for a non-finite scale.
  guided_field(P& field, double scale, Exec ex = {}) : field_(&field), ex_(ex) { set_scale(scale); }

  //! D, the wrapped field's.
  index_t dim() const { return static_cast<index_t>(field_->dim()); }
  //! The wrapped field's null condition.
  condition_type null_condition() const { return field_->null_condition(); }
  //! w.
  double scale() const noexcept { return scale_; }
  //! Sets w. @throws value_error for a non-finite value.
  void set_scale(double w) {
    if (!detail::isfinite(w)) detail::fail<value_error>("guided_field", "scale", "expected a finite value, got " + detail::num(w));
    scale_ = w;
  }
  //! The wrapped field.
  P& field() const noexcept { return *field_; }

  //! @brief v = v_u + w (v_c - v_u) at (x, t, c).
  //! @param x  (B, D) states; @param t (B) times; @param c B conditions; @param v (B, D) output
  //! @throws shape_error when the shapes disagree with each other or with dim().
  void predict(const_state_view_t<P> x, time_view_t<P> t, condition_span_t<P> c, state_view_t<P> v) {
    constexpr std::string_view fn = "guided_field";
    const auto bx = detail::to_batch(x, fn, "x");
    const auto bv = detail::to_batch(v, fn, "v");
    const index_t B = bx.batch, D = bx.elements;
    if (D != dim())
      detail::fail<shape_error>(fn, "x",
                                "expected " + std::to_string(dim()) + " elements per sample (the field's dim()), got " +
                                    std::to_string(D));
    detail::require_same_shape(bx, "x", bv, "v", fn);
    if (t.extents[0] != B)
      detail::fail<shape_error>(fn, "t",
                                "expected one time per sample (" + std::to_string(B) + "), got " +
                                    std::to_string(t.extents[0]));
    if (index_t(c.size()) != B)
      detail::fail<shape_error>(fn, "c",
                                "expected one condition per sample (" + std::to_string(B) + "), got " +
                                    std::to_string(c.size()));
    field_->predict(x, t, c, v);  // v_c
    if (scale_ == 1.0) return;
    if (index_t(null_.size()) != B) null_.assign(std::size_t(B), field_->null_condition());
    if (vu_.size() < B * D) vu_ = ex_.template allocate<value_type>(B * D);
    const auto u = detail::packed_batch<space_type>(vu_.data(), B, D);
    field_->predict(x, t, condition_span_t<P>(null_), detail::as_matrix(u));
    detail::lincomb_views(ex_, bv, 0.0, {1.0 - scale_, scale_}, u, bv);  // v_u + w (v_c - v_u)
  }

 private:
  P* field_;
  double scale_ = 1.0;
  Exec ex_;
  std::vector<condition_type> null_;
  buffer_t<Exec, value_type> vu_{};
};

}  // namespace dnft
