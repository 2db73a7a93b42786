// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the passes of cuda::mlp_policy. Per-element operations (host and device functors
// over the formulas of detail/mlp.hpp), and the forward and backward passes written against an
// "engine" (matrix products with cuBLAS's conventions + element-wise loops), so the same
// sequence of products and element operations runs on the GPU (cuBLAS + kernels/mlp.cuh) and,
// in the tests, on the CPU (naive products + plain loops) against the host model.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cublas_v2.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/detail/mlp.hpp"
#include "dnft/policies/mlp_config.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::cuda::detail {

// ---- dimensions and parameter offsets ---------------------------------------------------------

//! The dimensions of a model, and where its tensors sit in the flat parameter buffer (the
//! offsets of dnft::detail::mlp_layout, by formula; tests check that they agree).
struct mlp_shape {
  index_t D = 0, F = 0, E = 0, W = 0, L = 0, K1 = 0, in0 = 0;

  DNFT_HOST_DEVICE constexpr index_t layer_in(index_t l) const noexcept { return l == 0 ? in0 : W; }
  DNFT_HOST_DEVICE constexpr index_t layer_out(index_t l) const noexcept { return l == L ? D : W; }
  //! First row of the embedding in the input column z.
  DNFT_HOST_DEVICE constexpr index_t emb_row() const noexcept { return D + 2 * F; }
  //! Offset of W_l (out, in), row-major.
  DNFT_HOST_DEVICE constexpr index_t weight_offset(index_t l) const noexcept {
    index_t off = K1 * E;
    for (index_t j = 0; j < l; ++j) off += layer_out(j) * layer_in(j) + layer_out(j);
    return off;
  }
  //! Offset of b_l (out).
  DNFT_HOST_DEVICE constexpr index_t bias_offset(index_t l) const noexcept {
    return weight_offset(l) + layer_out(l) * layer_in(l);
  }
  //! Number of parameters.
  DNFT_HOST_DEVICE constexpr index_t count() const noexcept { return weight_offset(L + 1); }
};

inline mlp_shape make_mlp_shape(const mlp_config& c) noexcept {
  mlp_shape s;
  s.D = c.dim;
  s.F = c.time_frequencies;
  s.E = c.cond_dim;
  s.W = c.width;
  s.L = c.depth;
  s.K1 = index_t(c.num_conditions) + 1;
  s.in0 = dnft::detail::mlp_input_features(c);
  return s;
}

// ---- per-element operations: op(i, j) for row i (a sample), column j --------------------------

//! Forward, (B, in0): the input z[i, :] = [x[i, :] | sin(w_k t_i) | cos(w_k t_i) | table[c_i, :]],
//! row-major. Non-finite x sets flags[0], non-finite t flags[1] (the values are still written).
template <class Real, class SX, class TT, class ST>
struct mlp_input_op {
  dnft::detail::batch_view<const Real, SX> x;
  dnft::detail::vector_view<const TT, ST> t;
  const double* omega;  // (F)
  const int* cond;      // (B)
  const Real* table;    // (K + 1, E)
  Real* z;              // (B, in0)
  index_t D, F, E, in0;
  unsigned* flags;  // 2 words, or nullptr

  DNFT_HOST_DEVICE void operator()(index_t i, index_t f) const noexcept {
    Real value;
    if (f < D) {
      value = x(i, f);
      if (flags != nullptr && !dnft::detail::isfinite(value)) flags[0] = 1u;
    } else if (f < D + 2 * F) {
      const double ti = static_cast<double>(t[i]);
      if (flags != nullptr && !dnft::detail::isfinite(ti)) flags[1] = 1u;
      const index_t k = f - D;
      value = k < F ? dnft::detail::mlp_sin_feature<Real>(omega[k], ti)
                    : dnft::detail::mlp_cos_feature<Real>(omega[k - F], ti);
    } else {
      value = table[index_t(cond[i]) * E + (f - D - 2 * F)];
    }
    z[i * in0 + f] = value;
  }
};

//! Forward, (B, W): a = acc + b; h = silu(a); with Keep also d = silu'(a) (what backward needs).
//! h may be acc (in place).
template <class Real, bool Keep>
struct mlp_bias_silu_op {
  const Real* acc;   // (B, W) the product h_{l-1} W_l^T
  const Real* bias;  // (W)
  Real* h;           // (B, W)
  Real* d;           // (B, W) with Keep
  index_t W;

  DNFT_HOST_DEVICE void operator()(index_t i, index_t o) const noexcept {
    const index_t q = i * W + o;
    const Real a = acc[q] + bias[o];
    const Real s = dnft::detail::mlp_sigmoid(a);
    h[q] = dnft::detail::mlp_silu<Real>(a, s);
    if constexpr (Keep) d[q] = dnft::detail::mlp_silu_grad<Real>(a, s);
  }
};

//! Forward, (B, D): v[i, d] = out[i, d] + b_L[d], written with v's strides.
template <class Real, class SV>
struct mlp_output_op {
  const Real* out;   // (B, D)
  const Real* bias;  // (D)
  dnft::detail::batch_view<Real, SV> v;

  DNFT_HOST_DEVICE void operator()(index_t i, index_t d) const noexcept {
    v(i, d) = out[i * v.elements + d] + bias[d];
  }
};

//! (B, D): packs a strided batch into a row-major one; a non-finite value sets flags[0].
template <class Real, class S>
struct mlp_pack_op {
  dnft::detail::batch_view<const Real, S> in;
  Real* out;        // (B, D)
  unsigned* flags;  // or nullptr

  DNFT_HOST_DEVICE void operator()(index_t i, index_t d) const noexcept {
    const Real value = in(i, d);
    if (flags != nullptr && !dnft::detail::isfinite(value)) flags[0] = 1u;
    out[i * in.elements + d] = value;
  }
};

//! (B, 1): times as double (for error messages).
template <class TT, class S>
struct mlp_gather_time_op {
  dnft::detail::vector_view<const TT, S> t;
  double* out;
  DNFT_HOST_DEVICE void operator()(index_t i, index_t) const noexcept { out[i] = static_cast<double>(t[i]); }
};

//! Backward, (B, W): dL/da = dL/dh silu'(a), in place.
template <class Real>
struct mlp_silu_backward_op {
  Real* g;        // (B, W)
  const Real* d;  // (B, W) silu'(a) kept by forward
  index_t W;
  DNFT_HOST_DEVICE void operator()(index_t i, index_t o) const noexcept {
    const index_t q = i * W + o;
    g[q] = g[q] * d[q];
  }
};

//! Backward, (chunks, cols): partial[c, o] = sum of g[i, o] over the rows i of chunk c, in row
//! order, in double (first pass of a deterministic column sum).
template <class Real>
struct mlp_column_partial_op {
  const Real* g;  // (rows, cols)
  index_t rows, cols, chunk;
  double* partial;  // (chunks, cols)
  DNFT_HOST_DEVICE void operator()(index_t c, index_t o) const noexcept {
    const index_t end = dnft::detail::min(rows, (c + 1) * chunk);
    double s = 0;
    for (index_t i = c * chunk; i < end; ++i) s += static_cast<double>(g[i * cols + o]);
    partial[c * cols + o] = s;
  }
};

//! Backward, (1, cols): db[o] += the sum of the partials of column o, in chunk order.
template <class Real>
struct mlp_column_finish_op {
  const double* partial;  // (chunks, cols)
  index_t chunks, cols;
  Real* db;  // (cols)
  DNFT_HOST_DEVICE void operator()(index_t, index_t o) const noexcept {
    double s = 0;
    for (index_t c = 0; c < chunks; ++c) s += partial[c * cols + o];
    db[o] += static_cast<Real>(s);
  }
};

//! Backward, (pieces, E): part[p, e] = the sum of gemb[perm[j], e] over the sorted positions j
//! of piece p (a run of at most a few hundred samples with the same condition), in order.
template <class Real>
struct mlp_embedding_partial_op {
  const Real* gemb;        // (B, E) dL/de per sample
  const int* perm;         // (B) samples sorted by condition (stable)
  const int* piece_begin;  // (pieces + 1) into perm
  index_t E;
  double* part;  // (pieces, E)
  DNFT_HOST_DEVICE void operator()(index_t p, index_t e) const noexcept {
    double s = 0;
    for (index_t j = piece_begin[p]; j < piece_begin[p + 1]; ++j) s += static_cast<double>(gemb[index_t(perm[j]) * E + e]);
    part[p * E + e] = s;
  }
};

//! Backward, (segments, E): table_grad[c_s, e] += the sum of the parts of segment s (the pieces
//! of one condition c_s), in order.
template <class Real>
struct mlp_embedding_finish_op {
  const double* part;      // (pieces, E)
  const int* seg_piece;    // (segments + 1) first piece of each segment
  const int* seg_cond;     // (segments) the condition of each segment
  index_t E;
  Real* table_grad;  // (K + 1, E)
  DNFT_HOST_DEVICE void operator()(index_t s, index_t e) const noexcept {
    double sum = 0;
    for (index_t p = seg_piece[s]; p < seg_piece[s + 1]; ++p) sum += part[p * E + e];
    table_grad[index_t(seg_cond[s]) * E + e] += static_cast<Real>(sum);
  }
};

// ---- samples grouped by condition (host), for a deterministic embedding gradient --------------

//! The batch's samples sorted by condition (stable), cut into segments (one per condition
//! present) and pieces (runs of at most piece_length samples within a segment). Packed as ints:
//! perm (B) | piece_begin (pieces + 1) | seg_piece (segments + 1) | seg_cond (segments).
struct mlp_condition_groups {
  std::vector<int> data;
  index_t batch = 0, pieces = 0, segments = 0;
  std::vector<int> counts;  // scratch of the counting sort (K + 2)

  index_t piece_begin_at() const noexcept { return batch; }
  index_t seg_piece_at() const noexcept { return batch + pieces + 1; }
  index_t seg_cond_at() const noexcept { return batch + pieces + 1 + segments + 1; }
  index_t size() const noexcept { return static_cast<index_t>(data.size()); }
};

//! Groups `cond` (ids in [0, rows)) with a counting sort: O(B + rows).
inline void mlp_group_conditions(std::span<const int> cond, int rows, index_t piece_length, mlp_condition_groups& g) {
  const auto B = static_cast<index_t>(cond.size());
  g.batch = B;
  g.counts.assign(static_cast<std::size_t>(rows) + 1, 0);
  for (int c : cond) ++g.counts[static_cast<std::size_t>(c) + 1];
  index_t pieces = 0, segments = 0;
  for (int r = 0; r < rows; ++r) {
    const index_t n = g.counts[static_cast<std::size_t>(r) + 1];
    if (n == 0) continue;
    ++segments;
    pieces += (n + piece_length - 1) / piece_length;
  }
  g.pieces = pieces;
  g.segments = segments;
  g.data.assign(static_cast<std::size_t>(B + pieces + 1 + segments + 1 + segments), 0);
  for (int r = 0; r < rows; ++r) g.counts[static_cast<std::size_t>(r) + 1] += g.counts[static_cast<std::size_t>(r)];
  int* perm = g.data.data();
  for (index_t i = 0; i < B; ++i) perm[g.counts[static_cast<std::size_t>(cond[static_cast<std::size_t>(i)])]++] = int(i);
  // counts[r] is now the end of condition r's run (the start of r + 1's)
  int* piece_begin = g.data.data() + g.piece_begin_at();
  int* seg_piece = g.data.data() + g.seg_piece_at();
  int* seg_cond = g.data.data() + g.seg_cond_at();
  index_t p = 0, s = 0, begin = 0;
  for (int r = 0; r < rows; ++r) {
    const index_t end = g.counts[static_cast<std::size_t>(r)];
    if (end == begin) continue;
    seg_piece[s] = int(p);
    seg_cond[s] = r;
    ++s;
    for (index_t j = begin; j < end; j += piece_length) piece_begin[p++] = int(j);
    begin = end;
  }
  piece_begin[p] = int(B);
  seg_piece[s] = int(p);
}

// ---- the passes ------------------------------------------------------------------------------

//! Rows per chunk of the column sums: about sqrt(rows), at least 32 (balances the two passes).
inline index_t mlp_column_chunk(index_t rows) noexcept {
  index_t c = 32;
  while (c * c < rows) c *= 2;
  return c;
}
inline index_t mlp_column_chunks(index_t rows) noexcept {
  const index_t c = mlp_column_chunk(rows);
  return (rows + c - 1) / c;
}

//! Elements between the per-layer (B, W) activation matrices: B W rounded up to 64 elements, so
//! every matrix a product reads or writes starts 256-byte aligned like a fresh allocation (cuBLAS
//! picks its kernel by alignment too; predict and forward then run identical products).
inline index_t mlp_layer_stride(index_t B, index_t W) noexcept { return (B * W + 63) / 64 * 64; }

//! Samples per piece of the embedding gradient.
inline constexpr index_t mlp_piece_length = 128;

//! Memory of one forward pass.
template <class Real>
struct mlp_forward_buffers {
  Real* z = nullptr;    // (B, in0)
  Real* h = nullptr;    // Keep: L layers of (B, W) activations h_l; otherwise 2 (B, W) ping-pong buffers
  Real* d = nullptr;    // Keep: L layers of (B, W) silu'(a_l); otherwise unused
  index_t ls = 0;       // elements from one layer's (B, W) matrix to the next (mlp_layer_stride)
  Real* out = nullptr;  // (B, D)
  const int* cond = nullptr;  // (B) condition ids
  unsigned* flags = nullptr;  // 2 words (x, t) or nullptr: no finiteness check
};

//! @brief The forward pass on B samples: z, then per hidden layer a GEMM a = z W^T (cuBLAS
//! column-major: (W, B) = W_l^T-as-stored^T x z) and bias + SiLU, then the output GEMM and
//! bias, written to v. Activations are (B, features) row-major.
template <bool Keep, class Engine, class Real, class SX, class TT, class ST, class SV>
void mlp_forward(Engine& eng, const mlp_shape& s, index_t B, const Real* params, const double* omega,
                 const mlp_forward_buffers<Real>& w, const dnft::detail::batch_view<const Real, SX>& x,
                 const dnft::detail::vector_view<const TT, ST>& t, const dnft::detail::batch_view<Real, SV>& v) {
  eng.for_each(B, s.in0,
               mlp_input_op<Real, SX, TT, ST>{x, t, omega, w.cond, params, w.z, s.D, s.F, s.E, s.in0, w.flags});
  const index_t n = w.ls;
  const Real* in = w.z;
  for (index_t l = 0; l < s.L; ++l) {
    Real* a = Keep ? w.h + l * n : w.h + (l % 2) * n;
    const index_t k = s.layer_in(l);
    eng.gemm(CUBLAS_OP_T, CUBLAS_OP_N, s.W, B, k, Real(1), params + s.weight_offset(l), k, in, k, Real(0), a, s.W);
    eng.for_each(B, s.W,
                 mlp_bias_silu_op<Real, Keep>{a, params + s.bias_offset(l), a, Keep ? w.d + l * n : nullptr, s.W});
    in = a;
  }
  eng.gemm(CUBLAS_OP_T, CUBLAS_OP_N, s.D, B, s.W, Real(1), params + s.weight_offset(s.L), s.W, in, s.W, Real(0),
           w.out, s.D);
  eng.for_each(B, s.D, mlp_output_op<Real, SV>{w.out, params + s.bias_offset(s.L), v});
}

//! Memory of one backward pass (z, h and d are the forward's).
template <class Real>
struct mlp_backward_buffers {
  const Real* z = nullptr;
  const Real* h = nullptr;
  const Real* d = nullptr;
  index_t ls = 0;              // layer stride of h and d
  const Real* gout = nullptr;  // (B, D) dL/dv, packed
  Real* g0 = nullptr;          // (B, W)
  Real* g1 = nullptr;          // (B, W)
  Real* gemb = nullptr;        // (B, E)
  double* colpart = nullptr;   // (mlp_column_chunks(B), max(W, D))
  double* embpart = nullptr;   // (pieces, E)
  const int* groups = nullptr;  // mlp_condition_groups::data on the device
  index_t pieces = 0, segments = 0;
};

//! db += the column sums of g (rows, cols), deterministic (fixed chunks, fixed order).
template <class Engine, class Real>
void mlp_column_sum(Engine& eng, const Real* g, index_t rows, index_t cols, double* partial, Real* db) {
  const index_t chunk = mlp_column_chunk(rows), chunks = (rows + chunk - 1) / chunk;
  eng.for_each(chunks, cols, mlp_column_partial_op<Real>{g, rows, cols, chunk, partial});
  eng.for_each(1, cols, mlp_column_finish_op<Real>{partial, chunks, cols, db});
}

//! @brief The backward pass: accumulates dL/dparameters into grads given dL/dv (w.gout) and the
//! activations of the forward pass on the same B samples.
template <class Engine, class Real>
void mlp_backward(Engine& eng, const mlp_shape& s, index_t B, const Real* params, Real* grads,
                  const mlp_backward_buffers<Real>& w) {
  const index_t n = w.ls, L = s.L, W = s.W;
  // output layer: dW_L += dv^T h_{L-1}, db_L += colsum(dv), dL/dh_{L-1} = dv W_L
  eng.gemm(CUBLAS_OP_N, CUBLAS_OP_T, W, s.D, B, Real(1), w.h + (L - 1) * n, W, w.gout, s.D, Real(1),
           grads + s.weight_offset(L), W);
  mlp_column_sum(eng, w.gout, B, s.D, w.colpart, grads + s.bias_offset(L));
  eng.gemm(CUBLAS_OP_N, CUBLAS_OP_N, W, B, s.D, Real(1), params + s.weight_offset(L), W, w.gout, s.D, Real(0), w.g0, W);
  Real* cur = w.g0;
  Real* nxt = w.g1;
  for (index_t l = L - 1; l >= 0; --l) {
    eng.for_each(B, W, mlp_silu_backward_op<Real>{cur, w.d + l * n, W});  // dL/da_l
    mlp_column_sum(eng, static_cast<const Real*>(cur), B, W, w.colpart, grads + s.bias_offset(l));
    if (l > 0) {
      eng.gemm(CUBLAS_OP_N, CUBLAS_OP_T, W, W, B, Real(1), w.h + (l - 1) * n, W, cur, W, Real(1),
               grads + s.weight_offset(l), W);
      eng.gemm(CUBLAS_OP_N, CUBLAS_OP_N, W, B, W, Real(1), params + s.weight_offset(l), W, cur, W, Real(0), nxt, W);
      std::swap(cur, nxt);
    } else {
      eng.gemm(CUBLAS_OP_N, CUBLAS_OP_T, s.in0, W, B, Real(1), w.z, s.in0, cur, W, Real(1), grads + s.weight_offset(0),
               s.in0);
      // embedding columns of z: dL/de = dL/da_0 W_0[:, emb], summed per condition into the table
      eng.gemm(CUBLAS_OP_N, CUBLAS_OP_N, s.E, B, W, Real(1), params + s.weight_offset(0) + s.emb_row(), s.in0, cur, W,
               Real(0), w.gemb, s.E);
      const int* perm = w.groups;
      const int* piece_begin = w.groups + B;
      const int* seg_piece = piece_begin + w.pieces + 1;
      const int* seg_cond = seg_piece + w.segments + 1;
      eng.for_each(w.pieces, s.E,
                   mlp_embedding_partial_op<Real>{static_cast<const Real*>(w.gemb), perm, piece_begin, s.E, w.embpart});
      eng.for_each(w.segments, s.E, mlp_embedding_finish_op<Real>{w.embpart, seg_piece, seg_cond, s.E, grads});
    }
  }
}

}  // namespace dnft::cuda::detail
