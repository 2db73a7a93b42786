// SPDX-License-Identifier: Apache-2.0
// dnft_nft_cli: runs dnft::nft_loss (fused, host) on tensors read from raw files, for the PyTorch
// comparison in bench/torch (compare.py): times it, or writes its loss and gradient for a check.
//
// Usage:
//   dnft_nft_cli time  --dir DIR --batch B --elements D [--threads N] [--reps R] [--warmup W]
//                      [--what fwd|grad|both] [options]
//   dnft_nft_cli check --dir DIR --batch B --elements D [--threads N] [options]
// options: --beta X  --adv-clip C  --kl-weight L  --adv-mode all|positive_only|negative_only|one_only|binary
//          --no-ref (no v_ref, no KL term)
//
// DIR holds x0.f32, eps.f32, v_theta.f32, v_old.f32, v_ref.f32 (B * D float32 each, native byte
// order, sample-major) and t.f64, adv.f64 (B float64 each). Both commands print one JSON object on
// stdout. `time` reports per-repetition wall and process-CPU milliseconds of nft_loss alone
// (forward only: no gradient argument; grad: the gradient written into a buffer allocated once);
// `check` also writes the gradient to DIR/dnft_grad.f32. Exit status 2 on bad arguments or files.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnft/algorithm/nft_loss.hpp"

namespace {

using dnft::index_t;

//! Thrown for bad command lines and unreadable files (reported on stderr, exit status 2).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

//! A 64-byte aligned float array (PyTorch's CPU allocator aligns tensors to 64 bytes too).
class aligned_floats {
 public:
  explicit aligned_floats(index_t n)
      : n_(n), p_(static_cast<float*>(::operator new(std::size_t(n) * sizeof(float), std::align_val_t{64}))) {}
  float* data() noexcept { return p_.get(); }
  const float* data() const noexcept { return p_.get(); }
  index_t size() const noexcept { return n_; }

 private:
  struct deleter {
    void operator()(float* p) const noexcept { ::operator delete(static_cast<void*>(p), std::align_val_t{64}); }
  };
  index_t n_;
  std::unique_ptr<float, deleter> p_;
};

//! Reads exactly `n` values of T from `path` into `out`.
template <class T>
void read_raw(const std::string& path, T* out, index_t n) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw usage_error("cannot open " + path);
  const auto bytes = static_cast<std::streamoff>(f.tellg());
  const auto want = static_cast<std::streamoff>(std::size_t(n) * sizeof(T));
  if (bytes != want)
    throw usage_error(path + ": expected " + std::to_string(want) + " bytes, found " + std::to_string(bytes));
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(out), want)) throw usage_error("cannot read " + path);
}

template <class T>
void write_raw(const std::string& path, const T* in, index_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f.write(reinterpret_cast<const char*>(in), static_cast<std::streamsize>(std::size_t(n) * sizeof(T))))
    throw usage_error("cannot write " + path);
}

struct args {
  std::string command, dir, what = "both";
  index_t batch = 0, elements = 0;
  int threads = 1, reps = 10, warmup = 2;
  bool no_ref = false;
  dnft::nft_options opt;
};

dnft::advantage_mode parse_mode(const std::string& s) {
  static const std::map<std::string, dnft::advantage_mode> modes{{"all", dnft::advantage_mode::all},
                                                                 {"positive_only", dnft::advantage_mode::positive_only},
                                                                 {"negative_only", dnft::advantage_mode::negative_only},
                                                                 {"one_only", dnft::advantage_mode::one_only},
                                                                 {"binary", dnft::advantage_mode::binary}};
  const auto it = modes.find(s);
  if (it == modes.end()) throw usage_error("--adv-mode: unknown mode '" + s + "'");
  return it->second;
}

long long parse_int(const std::string& name, const std::string& v, long long lo) {
  std::size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || x < lo) throw usage_error(name + ": expected an integer >= " + std::to_string(lo) + ", got '" + v + "'");
  return x;
}

double parse_double(const std::string& name, const std::string& v) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size()) throw usage_error(name + ": expected a number, got '" + v + "'");
  return x;
}

args parse(int argc, char** argv) {
  if (argc < 2) throw usage_error("expected a command: time or check");
  args a;
  a.command = argv[1];
  if (a.command != "time" && a.command != "check") throw usage_error("unknown command '" + a.command + "'");
  for (int k = 2; k < argc; ++k) {
    const std::string name = argv[k];
    if (name == "--no-ref") {
      a.no_ref = true;
      continue;
    }
    if (k + 1 >= argc) throw usage_error(name + ": missing value");
    const std::string v = argv[++k];
    if (name == "--dir") a.dir = v;
    else if (name == "--batch") a.batch = parse_int(name, v, 1);
    else if (name == "--elements") a.elements = parse_int(name, v, 1);
    else if (name == "--threads") a.threads = int(parse_int(name, v, 1));
    else if (name == "--reps") a.reps = int(parse_int(name, v, 1));
    else if (name == "--warmup") a.warmup = int(parse_int(name, v, 0));
    else if (name == "--what") a.what = v;
    else if (name == "--beta") a.opt.beta = parse_double(name, v);
    else if (name == "--adv-clip") a.opt.adv_clip_max = parse_double(name, v);
    else if (name == "--kl-weight") a.opt.kl_weight = parse_double(name, v);
    else if (name == "--adv-mode") a.opt.mode = parse_mode(v);
    else throw usage_error("unknown option " + name);
  }
  if (a.dir.empty() || a.batch == 0 || a.elements == 0) throw usage_error("--dir, --batch and --elements are required");
  if (a.what != "fwd" && a.what != "grad" && a.what != "both") throw usage_error("--what: expected fwd, grad or both");
  return a;
}

//! The inputs of one nft_loss call, read from DIR.
struct problem {
  index_t B, D;
  aligned_floats x0, eps, v_theta, v_old, v_ref, grad;
  std::vector<double> t, adv;

  problem(const std::string& dir, index_t b, index_t d)
      : B(b), D(d), x0(b * d), eps(b * d), v_theta(b * d), v_old(b * d), v_ref(b * d), grad(b * d),
        t(std::size_t(b)), adv(std::size_t(b)) {
    read_raw(dir + "/x0.f32", x0.data(), b * d);
    read_raw(dir + "/eps.f32", eps.data(), b * d);
    read_raw(dir + "/v_theta.f32", v_theta.data(), b * d);
    read_raw(dir + "/v_old.f32", v_old.data(), b * d);
    read_raw(dir + "/v_ref.f32", v_ref.data(), b * d);
    read_raw(dir + "/t.f64", t.data(), b);
    read_raw(dir + "/adv.f64", adv.data(), b);
    std::fill(grad.data(), grad.data() + b * d, 0.0f);  // touch the pages before timing
  }
  auto view(const aligned_floats& a) const { return dnft::make_view(a.data(), {B, D}); }
  auto out() { return dnft::make_view(grad.data(), {B, D}); }
};

//! One nft_loss call: with or without the gradient, with or without v_ref.
dnft::nft_stats run(const dnft::host_executor& ex, problem& p, bool with_grad, const args& a) {
  const auto x0 = p.view(p.x0), eps = p.view(p.eps), vt = p.view(p.v_theta), vo = p.view(p.v_old),
             vr = p.view(p.v_ref);
  if (with_grad) {
    if (a.no_ref) return dnft::nft_loss(ex, x0, eps, p.t, p.adv, vt, vo, dnft::none, p.out(), a.opt);
    return dnft::nft_loss(ex, x0, eps, p.t, p.adv, vt, vo, vr, p.out(), a.opt);
  }
  if (a.no_ref) return dnft::nft_loss(ex, x0, eps, p.t, p.adv, vt, vo, dnft::none, dnft::none, a.opt);
  return dnft::nft_loss(ex, x0, eps, p.t, p.adv, vt, vo, vr, dnft::none, a.opt);
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

nlohmann::json stats_json(const dnft::nft_stats& s) {
  return {{"loss", s.loss}, {"policy_loss", s.policy_loss}, {"kl", s.kl}, {"mean_r", s.mean_r},
          {"clipped_fraction", s.clipped_fraction}};
}

//! Times `reps` calls after `warmup` untimed ones; wall and process CPU milliseconds per call.
nlohmann::json time_calls(const dnft::host_executor& ex, problem& p, bool with_grad, const args& a) {
  dnft::nft_stats s;
  for (int k = 0; k < a.warmup; ++k) s = run(ex, p, with_grad, a);
  std::vector<double> wall, cpu;
  for (int k = 0; k < a.reps; ++k) {
    const double c0 = cpu_seconds();
    const auto w0 = std::chrono::steady_clock::now();
    s = run(ex, p, with_grad, a);
    const auto w1 = std::chrono::steady_clock::now();
    const double c1 = cpu_seconds();
    wall.push_back(std::chrono::duration<double, std::milli>(w1 - w0).count());
    cpu.push_back(1e3 * (c1 - c0));
  }
  nlohmann::json j = stats_json(s);
  j["wall_ms"] = wall;
  j["cpu_ms"] = cpu;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const args a = parse(argc, argv);
    problem p(a.dir, a.batch, a.elements);
    const dnft::host_executor ex{a.threads};
    nlohmann::json out{{"command", a.command}, {"batch", a.batch}, {"elements", a.elements}, {"threads", a.threads}};
    if (a.command == "check") {
      out["stats"] = stats_json(run(ex, p, true, a));
      out["stats_fwd"] = stats_json(run(ex, p, false, a));
      write_raw(a.dir + "/dnft_grad.f32", p.grad.data(), p.B * p.D);
    } else {
      if (a.what != "grad") out["fwd"] = time_calls(ex, p, false, a);
      if (a.what != "fwd") out["grad"] = time_calls(ex, p, true, a);
    }
    std::cout << out.dump() << '\n';
    return 0;
  } catch (const usage_error& e) {
    std::cerr << "dnft_nft_cli: " << e.what() << '\n';
    return 2;
  } catch (const dnft::error& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
}
