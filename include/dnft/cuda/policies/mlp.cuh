// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: cuda::mlp_policy, the device twin of dnft::mlp_policy: the same network, parameter
// layout and initialisation, matrix products on cuBLAS and element-wise kernels.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "dnft/concepts/policy.hpp"
#include "dnft/cuda/cublas/gemm.cuh"
#include "dnft/cuda/detail/mlp.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/mlp.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/detail/mlp.hpp"
#include "dnft/error.hpp"
#include "dnft/policies/mlp_config.hpp"
#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/tensor_view.hpp"
#include "dnft/tensor/traits.hpp"

namespace dnft::cuda {

//! @brief Run-time choices of a cuda::mlp_policy that do not change the model.
struct mlp_options {
  //! Matrix products of a float model: gemm_precision::standard (full FP32, the default) or
  //! gemm_precision::tf32 (TF32 tensor cores: several times the throughput; inputs of every
  //! product rounded to a 10-bit mantissa, so outputs and gradients agree with FP32 to about
  //! 1e-3 relative, see gemm_precision). Ignored by a double model (always FP64).
  gemm_precision precision = gemm_precision::standard;
  //! Check x, t and dv for non-finite values and throw value_error as the host model does. The
  //! check costs one wait for the stream per call (predict and forward return when their results
  //! are ready; backward waits for dv's check before accumulating, so a bad dv leaves the
  //! gradients untouched). Without it, every call only enqueues work (fully asynchronous), and
  //! non-finite inputs propagate into the outputs and gradients.
  bool check_finite = true;
};

namespace detail {

//! Pinned host memory for the small per-call uploads (condition ids), reused once the previous
//! copy out of it has run (an event marks that). Copies start empty; moves take the memory.
class host_upload {
 public:
  host_upload() = default;
  host_upload(const host_upload&) noexcept {}
  host_upload& operator=(const host_upload&) noexcept { return *this; }
  host_upload(host_upload&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0)),
        event_(std::exchange(o.event_, nullptr)) {}
  host_upload& operator=(host_upload&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      capacity_ = std::exchange(o.capacity_, 0);
      event_ = std::exchange(o.event_, nullptr);
    }
    return *this;
  }
  ~host_upload() { release(); }

  //! Room for n ints, free to write (the previous upload has been copied out).
  int* acquire(std::size_t n) {
    if (event_ != nullptr) check(cudaEventSynchronize(event_));
    if (capacity_ < n) {
      if (data_ != nullptr) check(cudaFreeHost(data_));
      data_ = nullptr;
      capacity_ = 0;
      const std::size_t grown = n < 1024 ? 1024 : n + n / 2;
      void* p = nullptr;
      check(cudaMallocHost(&p, grown * sizeof(int)));
      data_ = static_cast<int*>(p);
      capacity_ = grown;
    }
    return data_;
  }

  //! Enqueues the copy of the first n ints to `dst` on `stream` and marks it with the event.
  void send(int* dst, std::size_t n, cudaStream_t stream) {
    if (n == 0) return;
    if (event_ == nullptr) check(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    check(cudaMemcpyAsync(dst, data_, n * sizeof(int), cudaMemcpyHostToDevice, stream));
    check(cudaEventRecord(event_, stream));
  }

 private:
  void release() noexcept {
    if (event_ != nullptr) {
      if (cudaEventSynchronize(event_) != cudaSuccess) (void)cudaGetLastError();
      if (cudaEventDestroy(event_) != cudaSuccess) (void)cudaGetLastError();
    }
    if (data_ != nullptr && cudaFreeHost(data_) != cudaSuccess) (void)cudaGetLastError();
    data_ = nullptr;
    capacity_ = 0;
    event_ = nullptr;
  }

  int* data_ = nullptr;
  std::size_t capacity_ = 0;
  cudaEvent_t event_ = nullptr;
};

//! The engine of the device passes: cuBLAS products and element-wise kernels on one stream.
struct mlp_device_engine {
  cublasHandle_t blas;
  cudaStream_t stream;
  gemm_precision precision;
  int sm_count;

  template <class Real>
  void gemm(cublasOperation_t op_a, cublasOperation_t op_b, index_t m, index_t n, index_t k, Real alpha, const Real* a,
            index_t lda, const Real* b, index_t ldb, Real beta, Real* c, index_t ldc) {
    if (m == 0 || n == 0) return;
    cuda::gemm<Real>(blas, op_a, op_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, precision);
  }

  template <class Op>
  void for_each(index_t rows, index_t cols, const Op& op) {
    const index_t n = rows * cols;
    if (n <= 0) return;
    index_t blocks = (n + block_threads - 1) / block_threads;
    const index_t most = index_t(sm_count > 0 ? sm_count : 1) * 32;
    if (blocks > most) blocks = most;
    mlp_elementwise_kernel<<<static_cast<unsigned>(blocks), block_threads, 0, stream>>>(op, rows, cols);
    check_launch();
  }
};

}  // namespace detail

//! @brief The reference velocity field on a CUDA device: dnft::mlp_policy's network (see
//! mlp_config), parameter layout and initialisation, with cuBLAS matrix products and small
//! element-wise kernels. Models velocity_field, guidable_field and trainable_policy with
//! space_type = device_space.
//!
//! Same numbers as the host model: a cuda::mlp_policy built from the same mlp_config holds
//! bit-identical parameters (initialised on the host by the host model's code, then uploaded),
//! and predict / forward / backward agree with the host model to rounding: about 1e-6 relative
//! in float (FP32 products; sigmoid from expf where the host uses Eigen's rational
//! approximation; different summation orders), about 1e-13 in double (tests/cuda/test_mlp.cu
//! states and checks the tolerances). The per-element formulas (time features, SiLU, SiLU') are
//! the host model's own (dnft/detail/mlp.hpp).
//!
//! Tensors: x, v, dv are (B, D) device (or managed) tensors of Real with any strides; t is (B)
//! of float or double with any stride; conditions are a host std::span<const int> of B ids in
//! [0, K], uploaded on every call. Internally activations are (B, features) row-major, one
//! cuBLAS GEMM per layer over the whole batch.
//!
//! Execution: everything is enqueued on the executor's stream (the policy holds a copy of the
//! executor: its stream, cuBLAS handle and memory resource). With mlp_options::check_finite
//! (the default) each call waits for its own inputs' check (see mlp_options); results are
//! otherwise ordered on the stream like any other dnft::cuda algorithm. Deterministic: no
//! atomics; the same inputs on the same device give the same bits. Not safe to use from several
//! threads at once.
//!
//! Copies deep-copy parameters and gradients (device to device, on the source's stream), so
//! the trainers' old, reference and EMA copies are independent models; a copy has no forward
//! pass to differentiate. Moves are cheap.
//!
//! Error messages are the host model's, naming "dnft::cuda::mlp_policy::<call>".
//! @code
//!   dnft::cuda::executor ex;
//!   dnft::cuda::mlp_policy<float> pi({.dim = 2, .num_conditions = 4, .seed = 1}, ex);
//!   pi.predict(x, t, c, v);   // (B, 2) device, (B) device, B host ids, (B, 2) device
//!   pi.forward(x, t, c, v);   // same, keeping activations
//!   pi.backward(dv);          // accumulates dL/dtheta into pi.gradients() (device)
//! @endcode
template <class Real>
class mlp_policy {
  static_assert(std::is_same_v<Real, float> || std::is_same_v<Real, double>,
                "dnft: cuda::mlp_policy: Real must be float or double");

 public:
  using value_type = Real;
  using space_type = device_space;
  using condition_type = int;

  //! Builds the model on `ex`'s device and initialises it exactly as dnft::mlp_policy does.
  //! Waits for the upload.
  //! @throws value_error when a field of `config` is out of range (the message names it);
  //! cuda_error when the device fails.
  explicit mlp_policy(const mlp_config& config = {}, const cuda::executor& ex = cuda::executor(),
                      const mlp_options& options = {})
      : cfg_(config), ex_(ex), opt_(options) {
    dnft::detail::mlp_validate_config(cfg_, "cuda::mlp_policy");
    shape_ = detail::make_mlp_shape(cfg_);
    layout_ = dnft::detail::mlp_layout(cfg_);
    count_ = dnft::detail::mlp_parameter_count(cfg_);
    std::vector<Real> host(static_cast<std::size_t>(count_));
    dnft::detail::mlp_initialise(cfg_, layout_, host.data());
    const std::vector<double> omega = dnft::detail::mlp_frequencies(cfg_);
    detail::device_guard guard(ex_.device());
    params_ = ex_.allocate<Real>(count_);
    grads_ = ex_.allocate<Real>(count_);
    omega_ = ex_.allocate<double>(cfg_.time_frequencies);
    ex_.copy(host, params_);
    ex_.copy(omega, omega_);
    check(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), ex_.stream()));
    ex_.synchronize();  // the host vectors go out of scope
  }

  //! A deep copy: parameters and gradients copied device to device on other's stream.
  mlp_policy(const mlp_policy& other)
      : cfg_(other.cfg_), ex_(other.ex_), opt_(other.opt_), shape_(other.shape_), count_(other.count_),
        layout_(other.layout_) {
    detail::device_guard guard(ex_.device());
    params_ = ex_.allocate<Real>(count_);
    grads_ = ex_.allocate<Real>(count_);
    omega_ = ex_.allocate<double>(other.omega_.size());
    ex_.copy(other.params_, params_);
    ex_.copy(other.grads_, grads_);
    ex_.copy(other.omega_, omega_);
  }

  //! Copies other's model (configuration, executor, options, parameters, gradients). Reuses
  //! this model's buffers when both work on the same stream and have the same size.
  mlp_policy& operator=(const mlp_policy& other) {
    if (this == &other) return *this;
    if (ex_.stream() == other.ex_.stream() && ex_.device() == other.ex_.device() && count_ == other.count_ &&
        omega_.size() == other.omega_.size() && params_.data() != nullptr) {
      cfg_ = other.cfg_;
      ex_ = other.ex_;
      opt_ = other.opt_;
      shape_ = other.shape_;
      layout_ = other.layout_;
      detail::device_guard guard(ex_.device());
      ex_.copy(other.params_, params_);
      ex_.copy(other.grads_, grads_);
      ex_.copy(other.omega_, omega_);
      ws_.batch = -1;
      ws_.groups_valid = false;
      return *this;
    }
    mlp_policy copy(other);
    *this = std::move(copy);
    return *this;
  }

  mlp_policy(mlp_policy&&) noexcept = default;
  mlp_policy& operator=(mlp_policy&&) noexcept = default;
  ~mlp_policy() = default;

  //! The configuration the model was built with.
  const mlp_config& config() const noexcept { return cfg_; }
  //! The executor the model runs on (stream, cuBLAS handle, memory resource).
  const cuda::executor& get_executor() const noexcept { return ex_; }
  const mlp_options& options() const noexcept { return opt_; }
  //! Changes the options (e.g. TF32 on or off); takes effect with the next call.
  void set_options(const mlp_options& options) noexcept { opt_ = options; }
  //! D, the number of elements of one sample.
  index_t dim() const noexcept { return cfg_.dim; }
  //! K, the number of (non-null) conditions.
  int num_conditions() const noexcept { return cfg_.num_conditions; }
  //! The null condition K (the unconditional model for classifier-free guidance).
  condition_type null_condition() const noexcept { return cfg_.num_conditions; }
  //! Rows of the network's input column: D + 2F + E.
  index_t input_features() const noexcept { return shape_.in0; }
  //! Number of parameters (and gradients).
  index_t parameter_count() const noexcept { return count_; }
  //! The named tensors inside parameters() and gradients(), in storage order (the host model's).
  std::span<const parameter_tensor> layout() const noexcept { return layout_; }

  //! All parameters, one flat device buffer (see layout()).
  tensor_view<Real, 1, device_space> parameters() noexcept { return {params_.data(), {count_}, {1}}; }
  tensor_view<const Real, 1, device_space> parameters() const noexcept { return {params_.data(), {count_}, {1}}; }
  //! The accumulated gradients, same layout as parameters().
  tensor_view<Real, 1, device_space> gradients() noexcept { return {grads_.data(), {count_}, {1}}; }
  tensor_view<const Real, 1, device_space> gradients() const noexcept { return {grads_.data(), {count_}, {1}}; }

  //! Sets every gradient to zero (enqueued on the stream).
  void zero_grad() {
    detail::device_guard guard(ex_.device());
    check(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), ex_.stream()));
  }

  //! @brief v[i, :] = v(x[i, :], t[i], c[i]) without keeping activations (does not disturb
  //! what the last forward() kept for backward()). v may alias x. The result is bit-identical
  //! to forward()'s on the same input.
  //! @param x  (B, D) states (device)
  //! @param t  (B) times (device; float or double)
  //! @param c  B condition ids in [0, K] (host)
  //! @param v  (B, D) output velocities (device)
  //! @throws shape_error, layout_error, value_error on bad arguments (named in the message; v
  //! is unspecified after a non-finite x or t).
  template <class X, class T, class V>
  void predict(X&& x, T&& t, std::span<const condition_type> c, V&& v) {
    run<false>(as_view(x), as_view(t), c, as_view(v), "cuda::mlp_policy::predict");
  }

  //! @brief As predict(), and keeps the activations that backward() needs (until the next
  //! forward()). A forward() that throws leaves nothing to differentiate.
  template <class X, class T, class V>
  void forward(X&& x, T&& t, std::span<const condition_type> c, V&& v) {
    run<true>(as_view(x), as_view(t), c, as_view(v), "cuda::mlp_policy::forward");
  }

  //! @brief Given dL/dv (B, D) (device) for the output of the last forward(), adds dL/dparameters
  //! to gradients(). May be called more than once per forward (the activations are kept).
  //! @throws error when no forward() preceded it; shape_error when dv is not (B, D) with the
  //! B of that forward(); value_error on a non-finite dv (gradients untouched).
  template <class G>
  void backward(G&& dv) {
    backward_impl(as_view(dv));
  }

 private:
  //! Device memory reused between calls. A copy of the model starts with none (and no forward
  //! pass to differentiate): only parameters and gradients are part of a model's value.
  struct workspace {
    device_buffer<Real> z, act_h, act_d;      // forward: (B, in0), L x (B, W), L x (B, W) (layer stride)
    device_buffer<Real> pz, ph, out;          // predict: (B, in0), 2 x (B, W); both: (B, D)
    device_buffer<Real> gout, g0, g1, gemb;   // backward: (B, D), 2 x (B, W), (B, E)
    device_buffer<double> colpart, embpart, scratch;  // column / embedding partial sums; error reports
    device_buffer<int> cond, groups;          // condition ids of the last call; grouping of the last forward
    device_buffer<unsigned> flags;            // 2 words: non-finite x (or dv), non-finite t
    device_buffer<Real> report;               // a packed copy of x or dv for error reports
    detail::host_upload cond_upload, groups_upload;
    std::vector<int> last_cond;               // conditions of the last forward (host)
    detail::mlp_condition_groups groups_host;
    bool groups_valid = false;                // groups (device) match last_cond
    index_t batch = -1;                       // B of the last forward; -1: none

    workspace() = default;
    workspace(const workspace&) {}
    workspace(workspace&&) noexcept = default;
    workspace& operator=(const workspace&) {
      batch = -1;
      groups_valid = false;
      return *this;
    }
    workspace& operator=(workspace&&) noexcept = default;
    ~workspace() = default;
  };

  template <class T>
  T* reserve(device_buffer<T>& b, index_t n) {
    if (b.size() < n) {
      b.reset();
      b = ex_.allocate<T>(n);
    }
    return b.data();
  }

  detail::mlp_device_engine engine() const {
    return {ex_.cublas(), ex_.stream(), opt_.precision, ex_.sm_count()};
  }

  // ---- argument checks ---------------------------------------------------------------------
  template <class S>
  static constexpr void check_space() {
    static_assert(cuda::executor::can_access<S>,
                  "dnft: cuda::mlp_policy: tensors must live in device (or managed) memory; use dnft::mlp_policy "
                  "for host tensors");
  }

  template <class X, std::size_t R, class S>
  dnft::detail::batch_view<const Real, S> batch_input(const tensor_view<X, R, S>& xv, std::string_view fn,
                                                      std::string_view arg) const {
    check_space<S>();
    static_assert(std::is_same_v<std::remove_const_t<X>, Real>,
                  "dnft: cuda::mlp_policy: x and dv must have the model's value_type as element type");
    const auto b = dnft::detail::to_batch(tensor_view<const Real, R, S>{xv.data, xv.extents, xv.strides}, fn, arg);
    if (R < 2 || b.elements != cfg_.dim)
      dnft::detail::fail<shape_error>(fn, arg,
                                      "expected (B, " + std::to_string(cfg_.dim) + ") (batch, dim()), got shape " +
                                          dnft::detail::shape_string(xv));
    if (b.batch > index_t(INT_MAX))
      dnft::detail::fail<shape_error>(fn, arg,
                                      "expected at most 2147483647 samples (cuBLAS dimensions are int), got " +
                                          std::to_string(b.batch));
    return b;
  }

  void check_conditions(std::span<const condition_type> c, std::string_view fn) const {
    for (std::size_t i = 0; i < c.size(); ++i)
      if (c[i] < 0 || c[i] > cfg_.num_conditions)
        dnft::detail::fail<value_error>(fn, "c",
                                        "expected condition ids in [0, " + std::to_string(cfg_.num_conditions) +
                                            "] (" + std::to_string(cfg_.num_conditions) +
                                            " is the null condition), got " + std::to_string(c[i]) + " at sample " +
                                            std::to_string(i));
  }

  //! Waits for the stream and returns the two flag words.
  std::pair<unsigned, unsigned> read_flags() {
    auto stage = ex_.host_staging(2 * sizeof(unsigned));
    check(cudaMemcpyAsync(stage.data, ws_.flags.data(), 2 * sizeof(unsigned), cudaMemcpyDeviceToHost, ex_.stream()));
    ex_.synchronize();
    unsigned f[2];
    std::memcpy(f, stage.data, sizeof f);
    return {f[0], f[1]};
  }

  //! Names the first non-finite element of a batch in sample order (the host model's message).
  template <class S>
  void report_nonfinite(const dnft::detail::batch_view<const Real, S>& b, std::string_view fn, std::string_view arg) {
    Real* packed = reserve(ws_.report, b.batch * b.elements);
    engine().for_each(b.batch, b.elements, detail::mlp_pack_op<Real, S>{b, packed, nullptr});
    const std::vector<Real> h = ex_.to_host(tensor_view<const Real, 1, device_space>{packed, {b.batch * b.elements}, {1}});
    for (index_t i = 0; i < b.batch; ++i)
      for (index_t d = 0; d < b.elements; ++d) {
        const double value = double(h[static_cast<std::size_t>(i * b.elements + d)]);
        if (!std::isfinite(value))
          dnft::detail::fail<value_error>(fn, arg,
                                          "non-finite value " + dnft::detail::num(value) + " at sample " +
                                              std::to_string(i) + ", element " + std::to_string(d));
      }
  }

  template <class TT, class S>
  void report_nonfinite_time(const dnft::detail::vector_view<const TT, S>& t, std::string_view fn) {
    double* packed = reserve(ws_.scratch, t.size);
    engine().for_each(t.size, 1, detail::mlp_gather_time_op<TT, S>{t, packed});
    const std::vector<double> h = ex_.to_host(tensor_view<const double, 1, device_space>{packed, {t.size}, {1}});
    for (std::size_t i = 0; i < h.size(); ++i)
      if (!std::isfinite(h[i]))
        dnft::detail::fail<value_error>(fn, "t",
                                        "non-finite value " + dnft::detail::num(h[i]) + " at sample " +
                                            std::to_string(i));
  }

  // ---- forward -------------------------------------------------------------------------------
  template <bool Keep, class X, std::size_t RX, class SX, class T, std::size_t RT, class ST, class V, std::size_t RV,
            class SV>
  void run(const tensor_view<X, RX, SX>& xv, const tensor_view<T, RT, ST>& tview, std::span<const condition_type> c,
           const tensor_view<V, RV, SV>& vv, std::string_view fn) {
    check_space<ST>();
    check_space<SV>();
    using TT = std::remove_const_t<T>;
    static_assert(std::is_same_v<TT, float> || std::is_same_v<TT, double>,
                  "dnft: cuda::mlp_policy: t must hold float or double times");
    static_assert(RT == 1, "dnft: cuda::mlp_policy: t must be a rank-1 tensor (one time per sample)");
    static_assert(std::is_same_v<V, Real>,
                  "dnft: cuda::mlp_policy: v must be a writable tensor of the model's value_type");
    if constexpr (Keep) ws_.batch = -1;  // a forward that throws leaves nothing to differentiate
    const auto xb = batch_input(xv, fn, "x");
    const index_t B = xb.batch, D = cfg_.dim;
    const auto tv = dnft::detail::to_vector(tensor_view<const TT, 1, ST>{tview.data, tview.extents, tview.strides},
                                            fn, "t");
    if (tv.size != B)
      dnft::detail::fail<shape_error>(fn, "t", "expected one time per sample (" + std::to_string(B) + "), got " +
                                                   std::to_string(tv.size));
    if (static_cast<index_t>(c.size()) != B)
      dnft::detail::fail<shape_error>(fn, "c", "expected one condition per sample (" + std::to_string(B) +
                                                   "), got " + std::to_string(c.size()));
    const auto vb = dnft::detail::to_batch(vv, fn, "v");
    if (RV < 2 || vb.batch != B || vb.elements != D)
      dnft::detail::fail<shape_error>(fn, "v",
                                      "expected the shape of x " + dnft::detail::shape_string(B, D) + ", got shape " +
                                          dnft::detail::shape_string(vv));
    dnft::detail::require_distinct(vb, fn, "v");
    check_conditions(c, fn);
    if constexpr (Keep) {
      ws_.last_cond.assign(c.begin(), c.end());
      ws_.groups_valid = false;
    }
    if (B == 0) {
      if constexpr (Keep) ws_.batch = 0;
      return;
    }

    detail::device_guard guard(ex_.device());
    cudaStream_t st = ex_.stream();
    const index_t W = cfg_.width, L = cfg_.depth, in0 = shape_.in0;
    int* cond = reserve(ws_.cond, B);
    int* staged = ws_.cond_upload.acquire(static_cast<std::size_t>(B));
    std::memcpy(staged, c.data(), static_cast<std::size_t>(B) * sizeof(int));
    ws_.cond_upload.send(cond, static_cast<std::size_t>(B), st);

    detail::mlp_forward_buffers<Real> w;
    w.cond = cond;
    w.out = reserve(ws_.out, B * D);
    w.ls = detail::mlp_layer_stride(B, W);
    if constexpr (Keep) {
      w.z = reserve(ws_.z, B * in0);
      w.h = reserve(ws_.act_h, L * w.ls);
      w.d = reserve(ws_.act_d, L * w.ls);
    } else {
      w.z = reserve(ws_.pz, B * in0);
      w.h = reserve(ws_.ph, 2 * w.ls);
    }
    if (opt_.check_finite) {
      w.flags = reserve(ws_.flags, 2);
      check(cudaMemsetAsync(w.flags, 0, 2 * sizeof(unsigned), st));
    }
    auto eng = engine();
    detail::mlp_forward<Keep>(eng, shape_, B, static_cast<const Real*>(params_.data()),
                              static_cast<const double*>(omega_.data()), w, xb, tv, vb);
    if (opt_.check_finite) {
      const auto [bad_x, bad_t] = read_flags();
      if (bad_x != 0) report_nonfinite(xb, fn, "x");
      if (bad_t != 0) report_nonfinite_time(tv, fn);
    }
    if constexpr (Keep) ws_.batch = B;
  }

  // ---- backward ------------------------------------------------------------------------------
  template <class G, std::size_t R, class S>
  void backward_impl(const tensor_view<G, R, S>& gview) {
    constexpr std::string_view fn = "cuda::mlp_policy::backward";
    if (ws_.batch < 0)
      dnft::detail::fail<error>(fn, "dv",
                                "no forward pass to differentiate; call forward() first (predict() keeps nothing)");
    const auto gb = batch_input(gview, fn, "dv");
    const index_t B = ws_.batch, D = cfg_.dim, W = cfg_.width, E = cfg_.cond_dim;
    if (gb.batch != B)
      dnft::detail::fail<shape_error>(fn, "dv",
                                      "expected the shape of the last forward's output " +
                                          dnft::detail::shape_string(B, D) + ", got shape " +
                                          dnft::detail::shape_string(gview));
    if (B == 0) return;

    detail::device_guard guard(ex_.device());
    cudaStream_t st = ex_.stream();
    auto eng = engine();
    detail::mlp_backward_buffers<Real> w;
    Real* gout = reserve(ws_.gout, B * D);
    unsigned* flags = nullptr;
    if (opt_.check_finite) {
      flags = reserve(ws_.flags, 2);
      check(cudaMemsetAsync(flags, 0, 2 * sizeof(unsigned), st));
    }
    eng.for_each(B, D, detail::mlp_pack_op<Real, S>{gb, gout, flags});
    // group the samples by condition (once per forward) while the check runs
    if (!ws_.groups_valid) {
      detail::mlp_group_conditions(ws_.last_cond, cfg_.num_conditions + 1, detail::mlp_piece_length, ws_.groups_host);
      const index_t n = ws_.groups_host.size();
      int* dst = reserve(ws_.groups, n);
      int* staged = ws_.groups_upload.acquire(static_cast<std::size_t>(n));
      std::memcpy(staged, ws_.groups_host.data.data(), static_cast<std::size_t>(n) * sizeof(int));
      ws_.groups_upload.send(dst, static_cast<std::size_t>(n), st);
      ws_.groups_valid = true;
    }
    if (opt_.check_finite) {
      const auto bad = read_flags();
      if (bad.first != 0) report_nonfinite(gb, fn, "dv");
    }
    w.z = ws_.z.data();
    w.h = ws_.act_h.data();
    w.d = ws_.act_d.data();
    w.ls = detail::mlp_layer_stride(B, W);
    w.gout = gout;
    w.g0 = reserve(ws_.g0, B * W);
    w.g1 = reserve(ws_.g1, B * W);
    w.gemb = reserve(ws_.gemb, B * E);
    w.colpart = reserve(ws_.colpart, detail::mlp_column_chunks(B) * (W > D ? W : D));
    w.pieces = ws_.groups_host.pieces;
    w.segments = ws_.groups_host.segments;
    w.embpart = reserve(ws_.embpart, w.pieces * E);
    w.groups = ws_.groups.data();
    detail::mlp_backward(eng, shape_, B, static_cast<const Real*>(params_.data()), grads_.data(), w);
  }

  mlp_config cfg_;
  cuda::executor ex_;
  mlp_options opt_;
  detail::mlp_shape shape_;
  index_t count_ = 0;
  std::vector<parameter_tensor> layout_;
  device_buffer<Real> params_, grads_;
  device_buffer<double> omega_;
  workspace ws_;
};

}  // namespace dnft::cuda
