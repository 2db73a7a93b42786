// SPDX-License-Identifier: Apache-2.0
// The toy-GenEval demo, reporting half: evaluation series and samples as CSV, the plots (gnuplot,
// when installed), summary.json and the printed summary table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "demo.hpp"
#include "dnft/error.hpp"

namespace geneval_demo {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string duration(double s) {
  if (!std::isfinite(s)) return "?";
  if (s < 59.5) return fmt("%.0f s", s);
  const double m = std::floor(std::round(s) / 60);
  return fmt("%.0f min ", m) + fmt("%02.0f s", std::round(s) - 60 * m);
}

std::string human(double v) {
  if (v >= 1e9) return fmt("%.3gG", v / 1e9);
  if (v >= 1e6) return fmt("%.3gM", v / 1e6);
  if (v >= 1e4) return fmt("%.3gk", v / 1e3);
  return fmt("%.0f", v);
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

json settings::to_json() const {
  return {{"dim", dim},
          {"prompts", prompts},
          {"width", width},
          {"depth", depth},
          {"base_seed", base_seed},
          {"pretrain_steps", pretrain_steps},
          {"pretrain_batch", pretrain_batch},
          {"pretrain_lr", pretrain_lr},
          {"pretrain_seed", pretrain_seed},
          {"method", method},
          {"budget", budget},
          {"iterations", iterations()},
          {"group_size", group_size},
          {"prompts_per_iteration", prompts_per_iteration},
          {"sampling_steps", sampling_steps},
          {"lr", lr},
          {"seed", seed},
          {"eval_every", eval_every},
          {"eval_ema", eval_ema},
          {"solver", solver},
          {"beta", beta},
          {"decay", decay},
          {"decay_schedule", decay_schedule},
          {"kl_weight", kl_weight},
          {"adv_mode", adv_mode},
          {"adaptive_weight", adaptive_weight},
          {"train_times", train_times},
          {"ddim_eta", ddim_eta},
          {"nft_guidance_eval", nft_guidance_eval},
          {"guidance", guidance},
          {"clip_range", clip_range},
          {"noise_level", noise_level},
          {"grpo_kl_weight", grpo_kl_weight},
          {"grpo_minibatches", grpo_minibatches},
          {"out", out},
          {"threads", threads},
          {"no_plots", no_plots},
          {"device", device}};
}

namespace {

const std::vector<double> thresholds{0.9, 0.95};

std::ofstream open_for_writing(const fs::path& path) {
  std::ofstream f(path);
  if (!f) dnft::detail::fail<dnft::io_error>("geneval_demo", path.string(), "cannot open for writing");
  return f;
}

void write_series_csv(const fs::path& path, const series& e) {
  auto f = open_for_writing(path);
  f << "iteration,images,model_evals,train_seconds,accuracy,in_any_mode\n";
  for (std::size_t i = 0; i < e.points.size(); ++i) {
    const auto& p = e.points[i];
    f << p.iteration << ',' << p.images << ',' << p.model_evals << ',' << fmt("%.6g", p.seconds) << ','
      << fmt("%.6g", p.value) << ',' << fmt("%.6g", e.in_any_mode[i]) << '\n';
  }
}

void write_samples(const fs::path& path, const std::vector<float>& x, const std::vector<int>& c) {
  auto f = open_for_writing(path);
  f << "x,y,prompt\n";
  for (std::size_t i = 0; i < c.size(); ++i) f << x[2 * i] << ',' << x[2 * i + 1] << ',' << c[i] << '\n';
}

//! Runs a shell command and returns what it printed (empty when it could not start).
std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  return out;
}

//! A path as a single-quoted gnuplot (and shell) string.
std::string quoted(const fs::path& p) {
  std::string s = "'";
  for (char ch : fs::absolute(p).lexically_normal().string()) s += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return s + "'";
}

//! Renders the plots with gnuplot; returns the PNG files written, or none (with a message) when
//! gnuplot or a PNG terminal is missing or gnuplot fails.
std::vector<fs::path> render_plots(const settings& s, const std::vector<method_run>& runs,
                                   const std::vector<std::pair<std::string, fs::path>>& scatter,
                                   const dnft::toy::geneval_task& task) {
  const std::string terms = capture("command -v gnuplot >/dev/null 2>&1 && gnuplot -e 'set terminal' 2>&1 </dev/null");
  if (terms.find("png") == std::string::npos) {
    std::printf("plots: skipped: %s (the data are in %s)\n",
                terms.empty() ? "gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
                              : "this gnuplot has no PNG terminal",
                s.out.c_str());
    return {};
  }
  const bool cairo = terms.find("pngcairo") != std::string::npos;
  const fs::path dir = fs::path(s.out) / "plots";
  fs::create_directories(dir);
  const fs::path script = dir / "plots.gp";
  std::vector<fs::path> written;
  {
    auto g = open_for_writing(script);
    const std::string font = cairo ? " font 'sans,11'" : "";
    const std::string term = cairo ? "pngcairo" : "png";
    g << "# written by the dnft toy-GenEval demo; run again with: gnuplot " << script.filename().string() << "\n"
      << "set datafile separator ','\nset datafile columnheaders\nset grid\nset key bottom right\n"
      << "set style line 10 lc rgb '#999999' dt 2 lw 1\n";
    struct curve {
      fs::path file;
      std::string title, style;
    };
    std::vector<curve> curves;
    for (const auto& r : runs)
      for (const auto& e : r.evals) {
        const bool nft = r.key == "nft", guided = e.guidance != 1.0;
        const std::string colour = nft ? (guided ? "#6baed6" : "#08519c") : (guided ? "#cb181d" : "#fc9272");
        curves.push_back({fs::path(s.out) / ("eval_" + e.key + ".csv"), e.label,
                          "with linespoints lw 2 pt 7 ps 0.6 lc rgb '" + colour + "'" + (guided == nft ? " dt 2" : "")});
      }
    const struct {
      const char* file;
      const char* column;
      const char* xlabel;
      const char* format;
    } axes[] = {
        {"accuracy_vs_iterations.png", "iteration", "iterations", "%g"},
        {"accuracy_vs_images.png", "images", "sampled images", "%g"},
        {"accuracy_vs_model_evals.png", "model_evals",
         "model evaluations (forward and backward passes of one sample, summed; guidance counted)", "%.0s%c"},
        {"accuracy_vs_seconds.png", "train_seconds", "training seconds (evaluation excluded; a shared machine)", "%g"}};
    for (const auto& a : axes) {
      const fs::path png = dir / a.file;
      g << "\nset terminal " << term << " size 960,640" << font << "\nset output " << quoted(png) << "\nset xlabel '"
        << a.xlabel << "'\nset format x '" << a.format << "'\nset yrange [0:1.02]\n"
        << "set ylabel 'accuracy (512 held-out samples, 40-step Euler)'\n"
        << "set title 'toy-GenEval, " << s.prompts << " prompts, D = " << s.dim
        << ": DiffusionNFT and FlowGRPO at their reference settings'\n"
        << "plot 0.9 ls 10 notitle, 0.95 ls 10 notitle";
      for (const auto& c : curves)
        g << ", \\\n  " << quoted(c.file) << " using '" << a.column << "':'accuracy' " << c.style << " title '"
          << c.title << "'";
      g << "\nunset output\n";
      written.push_back(png);
    }
    if (!scatter.empty()) {
      const fs::path png = dir / "samples.png";
      const int n = int(scatter.size()), cols = std::min(n, 3), rows = (n + cols - 1) / cols;
      const double R = task.config().radius + 4 * task.config().mode_std + 1.0;
      g << "\nset terminal " << term << " size " << 400 * cols << "," << 420 * rows << (cairo ? " font 'sans,10'" : "")
        << "\nset output " << quoted(png) << "\nunset xlabel\nunset ylabel\nset format x '%g'\nunset key\n"
        << "set size ratio -1\nset xrange [" << -R << ":" << R << "]\nset yrange [" << -R << ":" << R << "]\n";
      for (int k = 0; k < task.modes(); ++k) {
        const auto c = task.centre(k);
        g << "set object " << k + 1 << " circle at " << c[0] << "," << c[1] << " size " << task.hit_radius()
          << " fs empty border lc rgb '#444444' dt 2\n";
      }
      g << "set multiplot layout " << rows << "," << cols
        << " title 'samples coloured by prompt (dashed circles: where the reward is 1 for that mode)'\n";
      for (const auto& [title, file] : scatter)
        g << "set title '" << title << "'\nplot " << quoted(file)
          << " using 'x':'y':(column('prompt') + 1) with points pt 7 ps 0.35 lc variable\n";
      g << "unset multiplot\nunset output\n";
      written.push_back(png);
    }
  }
  const fs::path log = dir / "gnuplot.log";
  const int rc = std::system(("gnuplot " + quoted(script) + " >" + quoted(log) + " 2>&1").c_str());
  if (rc != 0) {
    std::printf("plots: gnuplot failed (status %d), see %s (the data are in %s)\n", rc, log.c_str(), s.out.c_str());
    return {};
  }
  return written;
}

//! "images  model evals  train s" at a threshold crossing, 32 characters wide.
std::string cost_cell(const std::optional<dnft::run_point>& p) {
  if (!p) return "          not reached           ";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%8lld %11s %9.1f   ", static_cast<long long>(p->images),
                human(double(p->model_evals)).c_str(), p->seconds);
  return buf;
}

}  // namespace

void report(const settings& s, const dnft::toy::geneval_task& task, const base_info& base,
            const std::vector<method_run>& runs, clock_type::time_point start) {
  // evaluation series and samples
  for (const auto& r : runs)
    for (const auto& e : r.evals) write_series_csv(fs::path(s.out) / ("eval_" + e.key + ".csv"), e);
  const bool scatter = s.dim == 2;
  std::vector<std::pair<std::string, fs::path>> scatter_files;
  if (scatter) {
    const auto add = [&](const std::string& title, const std::string& name, const std::vector<float>& x,
                         const std::vector<int>& c) {
      const fs::path f = fs::path(s.out) / ("samples_" + name + ".csv");
      write_samples(f, x, c);
      scatter_files.emplace_back(title, f);
    };
    add("base, no guidance: " + fmt("%.3f", base.unguided.accuracy), "base", base.samples_unguided, base.prompts);
    add("base, guidance " + fmt("%g", s.guidance) + ": " + fmt("%.3f", base.guided.accuracy), "base_guided",
        base.samples_guided, base.prompts);
    for (const auto& r : runs)
      for (const auto& e : r.evals)
        add(e.label + " after " + human(double(r.images)) + " images: " + fmt("%.3f", e.points.back().value), e.key,
            e.final_samples, e.final_prompts);
  }
  std::vector<fs::path> plots;
  if (!s.no_plots) plots = render_plots(s, runs, scatter_files, task);

  // summary.json and the table
  std::map<std::string, dnft::run_summary> sums;
  json methods = json::object();
  for (const auto& r : runs) {
    json m{{"label", r.label},        {"config", r.config},           {"iterations", r.iterations},
           {"images", r.images},      {"model_evals", r.model_evals}, {"train_seconds", r.train_seconds},
           {"eval_seconds", r.eval_seconds}, {"wall_seconds", r.wall_seconds}};
    json ev = json::object();
    for (const auto& e : r.evals) {
      sums[e.key] = dnft::summarize_run(e.points, thresholds);
      ev[e.key] = dnft::to_json(sums[e.key]);
      ev[e.key]["label"] = e.label;
      ev[e.key]["guidance"] = e.guidance;
    }
    m["evaluations"] = ev;
    methods[r.key] = m;
  }

  std::printf("\nsummary: accuracy of %d held-out samples (40-step Euler ODE), evaluated every %d iterations of %lld "
              "images;\ncosts at the first evaluation that reached the threshold; training seconds exclude evaluation\n",
              s.prompts * 64, s.eval_every, static_cast<long long>(s.batch()));
  std::printf("%-28s %5s %5s | %-32s| %-32s\n", "", "", "", "         to reach 0.90", "         to reach 0.95");
  std::printf("%-28s %5s %5s | %-32s| %-32s\n", "method (evaluated with)", "final", "best",
              "  images model evals   train s", "  images model evals   train s");
  for (const auto& r : runs)
    for (const auto& e : r.evals) {
      const auto& sm = sums[e.key];
      std::printf("%-28s %5.3f %5.3f | %s| %s\n", e.label.c_str(), sm.last.value, sm.best.value,
                  cost_cell(sm.thresholds[0].reached).c_str(), cost_cell(sm.thresholds[1].reached).c_str());
    }
  json ratios = json::object();
  if (sums.count("nft") && sums.count("grpo_guided")) {
    for (std::size_t k = 0; k < thresholds.size(); ++k) {
      const auto& a = sums["nft"].thresholds[k].reached;
      const auto& b = sums["grpo_guided"].thresholds[k].reached;
      const auto ratio = dnft::cost_ratio_of(a, b);
      const std::string th = fmt("%.2f", thresholds[k]);
      if (ratio) {
        ratios[th] = dnft::to_json(*ratio);
        std::printf("DiffusionNFT / FlowGRPO (guidance %g) to reach %s: %.2fx the images, %.2fx the model evaluations, "
                    "%.2fx the training seconds\n",
                    s.guidance, th.c_str(), ratio->images, ratio->model_evals, ratio->seconds);
      } else {
        ratios[th] = nullptr;
        std::printf("DiffusionNFT / FlowGRPO (guidance %g) to reach %s: no ratio (%s)\n", s.guidance, th.c_str(),
                    !a && !b ? "neither reached it" : (!a ? "DiffusionNFT did not reach it" : "FlowGRPO did not reach it"));
      }
    }
  }

  const double total = seconds_since(start);
  json timings{{"pretrain_seconds", base.pretrain_seconds}, {"base_cached", base.cached}};
  for (const auto& r : runs) {
    timings[r.key + "_train_seconds"] = r.train_seconds;
    timings[r.key + "_eval_seconds"] = r.eval_seconds;
    timings[r.key + "_wall_seconds"] = r.wall_seconds;
  }
  timings["total_seconds"] = total;
  json summary{{"settings", s.to_json()},
               {"base", {{"accuracy", base.unguided.accuracy},
                         {"in_any_mode", base.unguided.in_any_mode},
                         {"accuracy_guided", base.guided.accuracy},
                         {"in_any_mode_guided", base.guided.in_any_mode},
                         {"guidance", s.guidance},
                         {"cached", base.cached},
                         {"cache_file", base.cache_file}}},
               {"thresholds", thresholds},
               {"methods", methods},
               {"ratios_nft_over_grpo_guided", ratios},
               {"timings", timings}};
  {
    auto f = open_for_writing(fs::path(s.out) / "summary.json");
    f << summary.dump(2) << '\n';
  }

  std::printf("\ntimings: pre-training %s", base.cached ? "cached" : duration(base.pretrain_seconds).c_str());
  for (const auto& r : runs)
    std::printf(", %s %.1f s training + %.1f s evaluation", r.label.c_str(), r.train_seconds, r.eval_seconds);
  std::printf("; total %s\n", duration(total).c_str());
  std::printf("outputs in %s/: summary.json, <method>_metrics.{csv,jsonl}, eval_<series>.csv%s\n",
              fs::absolute(s.out).lexically_normal().c_str(), scatter ? ", samples_<model>.csv" : "");
  for (const auto& p : plots) std::printf("  plot: %s\n", fs::absolute(p).lexically_normal().c_str());
  if (!scatter && !s.no_plots) std::printf("  (no scatter plot: samples are drawn only for D = 2)\n");
}

}  // namespace geneval_demo
