// SPDX-License-Identifier: Apache-2.0
// dnft: mlp_policy, the reference velocity-field MLP (host, Eigen) with its own backward pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dnft/concepts/policy.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/mlp.hpp"
#include "dnft/error.hpp"
#include "dnft/policies/mlp_config.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor/traits.hpp"

namespace dnft {

namespace detail {

//! Allocates on 64-byte boundaries, so every workspace matrix starts on a cache line and
//! Eigen's vectorised element-wise loops (exp) treat the same elements the same way in every
//! buffer: predict() and forward() then give bit-identical results.
template <class T>
struct cacheline_allocator {
  using value_type = T;
  static constexpr std::size_t alignment = 64;
  cacheline_allocator() = default;
  template <class U>
  constexpr cacheline_allocator(const cacheline_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignment})); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{alignment}); }
  template <class U>
  friend constexpr bool operator==(const cacheline_allocator&, const cacheline_allocator<U>&) noexcept {
    return true;
  }
};

}  // namespace detail

//! @brief The reference velocity field: a conditional MLP v(x, t, c) on the host, with its own
//! backward pass. Models velocity_field, guidable_field and trainable_policy.
//!
//! Architecture: see mlp_config. The linear layers are numbered 0 .. depth (layer 0 reads the
//! input column z, layer `depth` is the output layer); layer l computes a_l = W_l h_{l-1} + b_l,
//! hidden layers apply SiLU h_l = a_l * sigmoid(a_l).
//!
//! Storage: all parameters live in ONE contiguous buffer, in the order of layout():
//! `cond_embedding.weight` (K + 1, E), then for each layer l `layers.l.weight` (out, in) and
//! `layers.l.bias` (out), all row-major (the PyTorch nn.Linear / nn.Embedding convention, so a
//! checkpoint writes one tensor per entry of layout()). The gradients have the same layout in
//! a second buffer. Eigen::Map views onto these buffers are built on every call, never stored,
//! so a copied or moved model always works on its own buffers.
//!
//! Initialisation (deterministic in `seed`, the same on every platform): linear weights and
//! biases are uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's nn.Linear, the
//! embedding table is standard normal as nn.Embedding. Tensor number p of layout() draws its
//! element n from Philox4x32-10 keyed by `seed` on stream s = stream_id(0x6d6c70, p): uniforms
//! are (w + 0.5) 2^-32 with w = word n % 4 of the block at counter (n / 4, 0, s), normals are
//! philox_normal{seed, s}(0, n).
//!
//! Batches: x, v are (B, D) tensors of `Real` with any strides (row-major or column-major
//! contiguous are the fast paths), t is (B) of any floating type, c holds B condition ids in
//! [0, K]. Internally activations are (B, features) column-major and a layer is one Eigen GEMM
//! over the whole batch, h_{l-1} W_l^T, with W_l^T read column-major from the row-major W_l
//! (measured the fastest arrangement for B = 128 .. 1024, width 256); workspaces are kept and
//! reused between calls.
//! Eigen uses several threads only when built with OpenMP; otherwise everything runs on the
//! calling thread. An object is not safe to use from several threads at once.
//!
//! @code
//!   dnft::mlp_policy<float> pi({.dim = 2, .num_conditions = 4, .width = 256, .depth = 3, .seed = 1});
//!   pi.predict(x, t, c, v);          // (B, 2), (B), B ids, (B, 2)
//!   pi.forward(x, t, c, v);          // same, keeping activations
//!   pi.backward(dv);                 // accumulates dL/dtheta into pi.gradients()
//! @endcode
template <class Real>
class mlp_policy {
  static_assert(std::is_same_v<Real, float> || std::is_same_v<Real, double>,
                "dnft: mlp_policy: Real must be float or double");

 public:
  using value_type = Real;
  using space_type = host_space;
  using condition_type = int;

  //! Builds and initialises the model.
  //! @throws value_error when a field of `config` is out of range (the message names it).
  explicit mlp_policy(const mlp_config& config = {}) : cfg_(config) {
    detail::mlp_validate_config(cfg_, "mlp_policy");
    in0_ = detail::mlp_input_features(cfg_);
    count_ = detail::mlp_build_layout(cfg_, layout_);
    params_.assign(static_cast<std::size_t>(count_), Real(0));
    grads_.assign(static_cast<std::size_t>(count_), Real(0));
    detail::mlp_initialise(cfg_, layout_, params_.data());
    const index_t nf = cfg_.time_frequencies;
    omega_.resize(static_cast<std::size_t>(nf));
    for (index_t k = 0; k < nf; ++k)
      omega_[static_cast<std::size_t>(k)] =
          detail::mlp_frequency(k, nf, cfg_.time_min_frequency, cfg_.time_max_frequency);
  }

  //! The configuration the model was built with.
  const mlp_config& config() const noexcept { return cfg_; }
  //! D, the number of elements of one sample.
  index_t dim() const noexcept { return cfg_.dim; }
  //! K, the number of (non-null) conditions.
  int num_conditions() const noexcept { return cfg_.num_conditions; }
  //! The null condition K (the unconditional model for classifier-free guidance).
  condition_type null_condition() const noexcept { return cfg_.num_conditions; }
  //! Rows of the network's input column: D + 2F + E.
  index_t input_features() const noexcept { return in0_; }
  //! Number of parameters (and gradients).
  index_t parameter_count() const noexcept { return count_; }
  //! The named tensors inside parameters() and gradients(), in storage order.
  std::span<const parameter_tensor> layout() const noexcept { return layout_; }

  //! All parameters, one flat buffer (see layout()).
  tensor_view<Real, 1> parameters() noexcept { return {params_.data(), {count_}, {1}}; }
  tensor_view<const Real, 1> parameters() const noexcept { return {params_.data(), {count_}, {1}}; }
  //! The accumulated gradients, same layout as parameters().
  tensor_view<Real, 1> gradients() noexcept { return {grads_.data(), {count_}, {1}}; }
  tensor_view<const Real, 1> gradients() const noexcept { return {grads_.data(), {count_}, {1}}; }

  //! Sets every gradient to zero.
  void zero_grad() noexcept { std::fill(grads_.begin(), grads_.end(), Real(0)); }

  //! @brief v[i, :] = v(x[i, :], t[i], c[i]) without keeping activations (does not disturb
  //! what the last forward() kept for backward()). v may alias x. The result is bit-identical
  //! to forward()'s on the same input (so v_theta - v_old is exactly 0 on-policy).
  //! @param x  (B, D) states
  //! @param t  (B) times
  //! @param c  B condition ids in [0, K]
  //! @param v  (B, D) output velocities
  //! @throws shape_error, layout_error, value_error on bad arguments (named in the message).
  template <class X, class T, class V>
  void predict(X&& x, T&& t, std::span<const condition_type> c, V&& v) {
    run<false>(as_view(x), as_view(t), c, as_view(v), "mlp_policy::predict");
  }

  //! @brief As predict(), and keeps the activations that backward() needs (until the next
  //! forward()). A forward() that throws leaves nothing to differentiate.
  template <class X, class T, class V>
  void forward(X&& x, T&& t, std::span<const condition_type> c, V&& v) {
    run<true>(as_view(x), as_view(t), c, as_view(v), "mlp_policy::forward");
  }

  //! @brief Given dL/dv (B, D) for the output of the last forward(), adds dL/dparameters to
  //! gradients(). May be called more than once per forward (the activations are kept).
  //! @throws error when no forward() preceded it; shape_error when dv is not (B, D) with the
  //! B of that forward(); value_error on a non-finite dv.
  template <class G>
  void backward(G&& dv) {
    backward_impl(as_view(dv));
  }

 private:
  using matrix = ::Eigen::Matrix<Real, ::Eigen::Dynamic, ::Eigen::Dynamic>;
  using row_matrix = ::Eigen::Matrix<Real, ::Eigen::Dynamic, ::Eigen::Dynamic, ::Eigen::RowMajor>;
  using col_vector = ::Eigen::Matrix<Real, ::Eigen::Dynamic, 1>;
  using map = ::Eigen::Map<matrix>;
  using cmap = ::Eigen::Map<const matrix>;
  using wmap = ::Eigen::Map<row_matrix>;
  using cwmap = ::Eigen::Map<const row_matrix>;
  using vmap = ::Eigen::Map<col_vector>;
  using cvmap = ::Eigen::Map<const col_vector>;

  //! Buffers reused between calls. A copy of the model starts with empty ones (and no forward
  //! pass to differentiate): only parameters and gradients are part of a model's value.
  using buffer = std::vector<Real, detail::cacheline_allocator<Real>>;
  struct workspace {
    buffer z, act_d, act_h;   // forward: (B, in0); per layer (B, W) silu'(a_l) and h_l (stride layer_stride)
    buffer pz, p0, p1, pout;  // predict: (B, in0), 2 x (B, W), (B, D)
    buffer sig;               // one column block of sigmoid(a), see hidden_layer
    buffer g0, g1, gout, gemb;  // backward: 2 x (B, W), (B, D), (B, E)
    std::vector<int> cond;                     // conditions of the last forward
    index_t batch = -1;                        // B of the last forward; -1: none

    workspace() = default;
    workspace(const workspace&) {}
    workspace(workspace&&) noexcept = default;
    workspace& operator=(const workspace&) {
      batch = -1;
      return *this;
    }
    workspace& operator=(workspace&&) noexcept = default;
    ~workspace() = default;
  };

  //! Elements between the per-layer (B, W) activation matrices: W * B rounded up to a cache line.
  static index_t layer_stride(index_t w, index_t b) noexcept {
    constexpr index_t per_line = index_t(64 / sizeof(Real));
    return (w * b + per_line - 1) / per_line * per_line;
  }

  static Real* reserve(buffer& b, index_t n) {
    if (static_cast<index_t>(b.size()) < n) b.resize(static_cast<std::size_t>(n));
    return b.data();
  }

  index_t layer_in(index_t l) const noexcept { return detail::mlp_layer_in(cfg_, l); }
  index_t layer_out(index_t l) const noexcept { return detail::mlp_layer_out(cfg_, l); }
  //! Offset of the embedding part in the input column.
  index_t emb_row() const noexcept { return cfg_.dim + 2 * cfg_.time_frequencies; }

  // ---- parameter views -------------------------------------------------------------------
  const parameter_tensor& weight_info(index_t l) const noexcept { return layout_[static_cast<std::size_t>(1 + 2 * l)]; }
  const parameter_tensor& bias_info(index_t l) const noexcept { return layout_[static_cast<std::size_t>(2 + 2 * l)]; }
  //! W_l (out, in), as stored (row-major).
  cwmap weight(index_t l) const noexcept { return {params_.data() + weight_info(l).offset, layer_out(l), layer_in(l)}; }
  //! W_l^T (in, out): the same memory read column-major.
  cmap weight_t(index_t l) const noexcept { return {params_.data() + weight_info(l).offset, layer_in(l), layer_out(l)}; }
  cvmap bias(index_t l) const noexcept { return {params_.data() + bias_info(l).offset, layer_out(l)}; }
  //! dL/dW_l^T (in, out), column-major view of the row-major gradient of W_l.
  map weight_grad_t(index_t l) noexcept { return {grads_.data() + weight_info(l).offset, layer_in(l), layer_out(l)}; }
  vmap bias_grad(index_t l) noexcept { return {grads_.data() + bias_info(l).offset, layer_out(l)}; }
  const Real* table() const noexcept { return params_.data() + layout_[0].offset; }
  Real* table_grad() noexcept { return grads_.data() + layout_[0].offset; }

  // ---- argument checks ---------------------------------------------------------------------
  template <class S>
  static constexpr void check_space() {
    static_assert(std::is_same_v<S, host_space> || std::is_same_v<S, managed_space>,
                  "dnft: mlp_policy: tensors must live in host (or managed) memory; mlp_policy runs on the host");
  }

  template <class X, std::size_t R, class S>
  detail::batch_view<const Real, S> batch_input(const tensor_view<X, R, S>& xv, std::string_view fn,
                                                std::string_view arg) const {
    check_space<S>();
    static_assert(std::is_same_v<std::remove_const_t<X>, Real>,
                  "dnft: mlp_policy: x and dv must have the model's value_type as element type");
    const auto b = detail::to_batch(tensor_view<const Real, R, S>{xv.data, xv.extents, xv.strides}, fn, arg);
    if (R < 2 || b.elements != cfg_.dim)
      detail::fail<shape_error>(fn, arg,
                                "expected (B, " + std::to_string(cfg_.dim) + ") (batch, dim()), got shape " +
                                    detail::shape_string(xv));
    return b;
  }

  //! Builds the network input z (B, in0), column-major (one column per feature), from x, t, c
  //! (all already checked for shape and range).
  template <class XB, class TV>
  void fill_input(Real* zp, const XB& xb, const TV& tv, std::span<const condition_type> c, std::string_view fn) const {
    const index_t B = xb.batch, D = cfg_.dim, F = cfg_.time_frequencies, E = cfg_.cond_dim;
    map z(zp, B, in0_);
    // x
    if (xb.elem_stride == 1 && xb.sample_stride == D) {
      z.leftCols(D) = cwmap(xb.data, B, D);
    } else {
      for (index_t d = 0; d < D; ++d)
        for (index_t i = 0; i < B; ++i) z(i, d) = xb(i, d);
    }
    if (!z.leftCols(D).allFinite()) {
      for (index_t i = 0; i < B; ++i)
        for (index_t d = 0; d < D; ++d)
          if (!std::isfinite(double(z(i, d))))
            detail::fail<value_error>(fn, "x",
                                      "non-finite value " + detail::num(double(z(i, d))) + " at sample " +
                                          std::to_string(i) + ", element " + std::to_string(d));
    }
    // t: sinusoidal features, computed once per distinct time among the last 16 seen (a solver
    // step has one time, a training batch a few grid times)
    const index_t tr = D;
    constexpr int cache_size = 16;
    double seen_t[cache_size];
    index_t seen_row[cache_size];
    int seen = 0, next = 0;
    for (index_t i = 0; i < B; ++i) {
      const double ti = double(tv[i]);
      if (!std::isfinite(ti))
        detail::fail<value_error>(fn, "t", "non-finite value " + detail::num(ti) + " at sample " + std::to_string(i));
      int hit = -1;
      for (int k = 0; k < seen && hit < 0; ++k)
        if (seen_t[k] == ti) hit = k;
      if (hit >= 0) {
        z.row(i).segment(tr, 2 * F) = z.row(seen_row[hit]).segment(tr, 2 * F);
        continue;
      }
      for (index_t k = 0; k < F; ++k) {
        const double w = omega_[static_cast<std::size_t>(k)];
        z(i, tr + k) = detail::mlp_sin_feature<Real>(w, ti);
        z(i, tr + F + k) = detail::mlp_cos_feature<Real>(w, ti);
      }
      seen_t[next] = ti;
      seen_row[next] = i;
      next = (next + 1) % cache_size;
      seen = std::min(seen + 1, cache_size);
    }
    // c: rows of the embedding table
    const index_t er = emb_row();
    const Real* tab = table();
    for (index_t i = 0; i < B; ++i) {
      const Real* row = tab + index_t(c[static_cast<std::size_t>(i)]) * E;
      for (index_t e = 0; e < E; ++e) z(i, er + e) = row[e];
    }
  }

  void check_conditions(std::span<const condition_type> c, std::string_view fn) const {
    for (std::size_t i = 0; i < c.size(); ++i)
      if (c[i] < 0 || c[i] > cfg_.num_conditions)
        detail::fail<value_error>(fn, "c",
                                  "expected condition ids in [0, " + std::to_string(cfg_.num_conditions) + "] (" +
                                      std::to_string(cfg_.num_conditions) + " is the null condition), got " +
                                      std::to_string(c[i]) + " at sample " + std::to_string(i));
  }

  // ---- forward -------------------------------------------------------------------------------
  template <bool Keep, class X, std::size_t RX, class SX, class T, std::size_t RT, class ST, class V, std::size_t RV,
            class SV>
  void run(const tensor_view<X, RX, SX>& xv, const tensor_view<T, RT, ST>& tview, std::span<const condition_type> c,
           const tensor_view<V, RV, SV>& vv, std::string_view fn) {
    check_space<ST>();
    check_space<SV>();
    static_assert(std::is_floating_point_v<std::remove_const_t<T>>, "dnft: mlp_policy: t must hold floating-point times");
    static_assert(RT == 1, "dnft: mlp_policy: t must be a rank-1 tensor (one time per sample)");
    static_assert(std::is_same_v<V, Real>, "dnft: mlp_policy: v must be a writable tensor of the model's value_type");
    if constexpr (Keep) ws_.batch = -1;  // a forward that throws leaves nothing to differentiate
    const auto xb = batch_input(xv, fn, "x");
    const index_t B = xb.batch, D = cfg_.dim;
    const auto tv = detail::to_vector(tview, fn, "t");
    if (tv.size != B)
      detail::fail<shape_error>(fn, "t", "expected one time per sample (" + std::to_string(B) + "), got " +
                                             std::to_string(tv.size));
    if (static_cast<index_t>(c.size()) != B)
      detail::fail<shape_error>(fn, "c", "expected one condition per sample (" + std::to_string(B) + "), got " +
                                             std::to_string(c.size()));
    const auto vb = detail::to_batch(vv, fn, "v");
    if (RV < 2 || vb.batch != B || vb.elements != D)
      detail::fail<shape_error>(fn, "v",
                                "expected the shape of x " + detail::shape_string(B, D) + ", got shape " +
                                    detail::shape_string(vv));
    detail::require_distinct(vb, fn, "v");
    check_conditions(c, fn);

    const index_t W = cfg_.width, L = cfg_.depth;
    Real* zp = reserve(Keep ? ws_.z : ws_.pz, in0_ * B);
    fill_input(zp, xb, tv, c, fn);
    if constexpr (Keep) {
      const index_t ls = layer_stride(W, B);
      Real* d = reserve(ws_.act_d, L * ls);
      Real* h = reserve(ws_.act_h, L * ls);
      for (index_t l = 0; l < L; ++l) hidden_layer<true>(l, l == 0 ? zp : h + (l - 1) * ls, d + l * ls, h + l * ls, B);
      output(cmap(h + (L - 1) * ls, B, W), vb);
      ws_.cond.assign(c.begin(), c.end());
      ws_.batch = B;
    } else {
      Real* cur = reserve(ws_.p0, W * B);
      Real* prev = reserve(ws_.p1, W * B);
      for (index_t l = 0; l < L; ++l) {
        hidden_layer<false>(l, l == 0 ? zp : prev, cur, cur, B);
        std::swap(cur, prev);
      }
      output(cmap(prev, B, W), vb);
    }
  }

  //! Hidden layer l on B samples: a = in W_l^T + 1 b_l^T (B, W) into `a`, then h = a * s with
  //! s = sigmoid(a); with Keep, `a` is overwritten by silu'(a) = s (1 + a (1 - s)), what
  //! backward needs (h may be a without Keep). The element-wise part runs in blocks of about
  //! 4096 elements, each still in cache, with s in a small scratch buffer; predict() and
  //! forward() run the same operations on the same alignment, so their outputs are bit-identical.
  template <bool Keep>
  void hidden_layer(index_t l, const Real* in, Real* a, Real* h, index_t B) {
    using array = ::Eigen::Array<Real, ::Eigen::Dynamic, 1>;
    const index_t W = cfg_.width, n = W * B;
    map am(a, B, W);
    am.rowwise() = bias(l).transpose();
    am.noalias() += cmap(in, B, layer_in(l)) * weight_t(l);
    constexpr index_t block = 4096;
    ::Eigen::Map<array> s(reserve(ws_.sig, std::min(block, n)), std::min(block, n));
    for (index_t j = 0; j < n; j += block) {
      const index_t m = std::min(block, n - j);
      ::Eigen::Map<array> aj(a + j, m), hj(h + j, m);
      auto sj = s.head(m);
      sj = aj.logistic();  // float: Eigen's rational approximation (a few ulps), double: 1 / (1 + exp(-a))
      hj = detail::mlp_silu<Real>(aj, sj);
      if constexpr (Keep) aj = detail::mlp_silu_grad<Real>(aj, sj);
    }
  }

  //! The output layer: v = h W_L^T + 1 b_L^T, computed (B, D) column-major, then written to v.
  template <class VB>
  void output(const cmap& h, const VB& vb) {
    const index_t B = vb.batch, D = cfg_.dim, L = cfg_.depth;
    const bool direct = vb.sample_stride == 1 && vb.elem_stride == B;  // v is column-major already
    map out(direct ? vb.data : reserve(ws_.pout, D * B), B, D);
    out.rowwise() = bias(L).transpose();
    out.noalias() += h * weight_t(L);
    if (direct) return;
    if (vb.elem_stride == 1 && vb.sample_stride == D) {
      wmap(vb.data, B, D) = out;
    } else {
      for (index_t i = 0; i < B; ++i)
        for (index_t d = 0; d < D; ++d) vb(i, d) = out(i, d);
    }
  }

  // ---- backward ------------------------------------------------------------------------------
  template <class G, std::size_t R, class S>
  void backward_impl(const tensor_view<G, R, S>& gview) {
    constexpr std::string_view fn = "mlp_policy::backward";
    if (ws_.batch < 0)
      detail::fail<error>(fn, "dv", "no forward pass to differentiate; call forward() first (predict() keeps nothing)");
    const auto gb = batch_input(gview, fn, "dv");
    const index_t B = ws_.batch, D = cfg_.dim, W = cfg_.width, L = cfg_.depth, E = cfg_.cond_dim;
    if (gb.batch != B)
      detail::fail<shape_error>(fn, "dv",
                                "expected the shape of the last forward's output " + detail::shape_string(B, D) +
                                    ", got shape " + detail::shape_string(gview));
    if (B == 0) return;

    // dL/dv as a (B, D) column-major matrix
    const Real* gp = gb.data;
    if (!(gb.sample_stride == 1 && gb.elem_stride == B)) {
      map buf(reserve(ws_.gout, D * B), B, D);
      if (gb.elem_stride == 1 && gb.sample_stride == D) {
        buf = cwmap(gb.data, B, D);
      } else {
        for (index_t d = 0; d < D; ++d)
          for (index_t i = 0; i < B; ++i) buf(i, d) = gb(i, d);
      }
      gp = buf.data();
    }
    const cmap gout(gp, B, D);
    if (!gout.allFinite()) {
      for (index_t i = 0; i < B; ++i)
        for (index_t d = 0; d < D; ++d)
          if (!std::isfinite(double(gout(i, d))))
            detail::fail<value_error>(fn, "dv",
                                      "non-finite value " + detail::num(double(gout(i, d))) + " at sample " +
                                          std::to_string(i) + ", element " + std::to_string(d));
    }

    const index_t ls = layer_stride(W, B);
    auto h_of = [&](index_t l) { return cmap(ws_.act_h.data() + l * ls, B, W); };

    // output layer
    Real* cur = reserve(ws_.g0, W * B);
    Real* nxt = reserve(ws_.g1, W * B);
    weight_grad_t(L).noalias() += h_of(L - 1).transpose() * gout;
    bias_grad(L) += gout.colwise().sum().transpose();
    map(cur, B, W).noalias() = gout * weight(L);

    // hidden layers, last to first: cur holds dL/dh_l, turned into dL/da_l in place
    for (index_t l = L - 1; l >= 0; --l) {
      map g(cur, B, W);
      g.array() *= cmap(ws_.act_d.data() + l * ls, B, W).array();  // dL/da_l = dL/dh_l silu'(a_l)
      bias_grad(l) += g.colwise().sum().transpose();
      if (l > 0) {
        weight_grad_t(l).noalias() += h_of(l - 1).transpose() * g;
        map(nxt, B, W).noalias() = g * weight(l);
        std::swap(cur, nxt);
      } else {
        weight_grad_t(0).noalias() += cmap(ws_.z.data(), B, in0_).transpose() * g;
        // embedding columns of z: dL/de = dL/da_0 W_0[:, emb], scattered to the rows of the table
        map ge(reserve(ws_.gemb, E * B), B, E);
        ge.noalias() = g * weight(0).middleCols(emb_row(), E);
        Real* tg = table_grad();
        for (index_t e = 0; e < E; ++e)
          for (index_t i = 0; i < B; ++i) tg[index_t(ws_.cond[static_cast<std::size_t>(i)]) * E + e] += ge(i, e);
      }
    }
  }

  mlp_config cfg_;
  index_t in0_ = 0;
  index_t count_ = 0;
  std::vector<parameter_tensor> layout_;
  std::vector<double> omega_;
  std::vector<Real> params_;
  std::vector<Real> grads_;
  workspace ws_;
};

}  // namespace dnft
