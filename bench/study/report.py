#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The report of the DiffusionNFT / FlowGRPO algorithm study: reads the run folders written by
# run_study.py and writes bench/study/results.json (every number of the report), the PNG plots and
# the tables of bench/study/REPORT.md (between the markers <!-- tables:begin --> and
# <!-- tables:end -->; the prose around them is written by hand and kept).
#
#   bench/study/report.py --out out/study
"""Aggregates the study's runs into results.json, plots and the tables of REPORT.md."""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COSTS = [("images", "images"), ("model_evals", "model evaluations"), ("train_seconds", "training seconds")]

#: Configurations run later, with a faster build of the demo on a quieter machine than the rest of
#: the study: the same images, model evaluations and accuracies bit for bit (checked by rerunning
#: grpo_ref seed 0 with that build), but training seconds about 7 times lower, so their seconds are
#: not compared with the other configurations'.
LATER_BUILD = {"grpo_ref_mb2", "grpo_ref_mb2_noguid"}


# ---- statistics -------------------------------------------------------------------------------


def mean_sd(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def geo_mean_sd(xs: list[float]) -> tuple[float, float]:
    """Geometric mean and the multiplicative spread exp(sd(log x)) of positive values."""
    xs = [x for x in xs if x is not None and x > 0 and math.isfinite(x)]
    if not xs:
        return math.nan, math.nan
    ls = [math.log(x) for x in xs]
    return math.exp(statistics.fmean(ls)), (math.exp(statistics.stdev(ls)) if len(ls) > 1 else 1.0)


def nan_to_none(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return x


# ---- one configuration ------------------------------------------------------------------------


def series_keys(cfg: study.Config) -> list[str]:
    return ["nft", "nft_guided"] if cfg.method == "nft" else ["grpo_guided", "grpo"]


def summarize_series(points: list[dict], budget_images: int) -> dict:
    best = max(points, key=lambda p: p["accuracy"])
    out = {"final_accuracy": points[-1]["accuracy"], "best_accuracy": best["accuracy"],
           "best_at_images": best["images"], "final_in_any_mode": points[-1]["in_any_mode"],
           "final_kl": points[-1].get("kl", math.nan), "images": points[-1]["images"],
           "model_evals": points[-1]["model_evals"], "train_seconds": points[-1]["train_seconds"],
           "to": {}}
    out["held"] = {}
    for t in study.THRESHOLDS:
        c = study.crossing(points, t)
        out["to"][f"{t:.2f}"] = None if c is None else {k: c[k] for k, _ in COSTS} | {"iteration": c["iteration"]}
        h = study.held_from(points, t)
        out["held"][f"{t:.2f}"] = None if h is None else {k: h[k] for k, _ in COSTS} | {"iteration": h["iteration"]}
    return out


def subsampled(c: dict, every: int, name: str, label: str) -> dict:
    """A configuration's runs as if evaluated only every `every` iterations (to compare with
    runs evaluated less often at the same resolution)."""
    out = dict(c, name=name, label=label, runs={})
    for s, r in c["runs"].items():
        rr = dict(r, series={})
        for key, ser in r["series"].items():
            pts = [p for p in ser["points"] if int(p["iteration"]) % every == 0 or p is ser["points"][-1]]
            rr["series"][key] = summarize_series(pts, 0) | {"points": pts}
        out["runs"][s] = rr
    return out


def load_config(root: str, cfg: study.Config) -> dict:
    runs = {}
    for s in cfg.seeds:
        d = cfg.run_dir(root, s)
        summ = study.load_summary(d)
        if summ is None:
            continue
        runs[s] = {"base_accuracy": summ["base"]["accuracy"], "base_accuracy_guided": summ["base"]["accuracy_guided"],
                   "series": {}}
        budget = summ["settings"]["budget"]
        for key in series_keys(cfg):
            pts = study.load_series(d, key)
            if pts:
                runs[s]["series"][key] = summarize_series(pts, budget) | {"points": pts}
    return {"name": cfg.name, "label": cfg.label, "group": cfg.group, "scale": cfg.scale, "method": cfg.method,
            "flags": cfg.flags, "guidance": cfg.flags.get("guidance", 1.0 if cfg.method == "nft" else 4.5),
            "runs": runs}


def aggregate(c: dict, key: str) -> dict:
    """Mean and spread over seeds of one series of a configuration."""
    rs = [r["series"][key] for r in c["runs"].values() if key in r["series"]]
    out = {"seeds": len(rs)}
    if not rs:
        return out
    for f in ("final_accuracy", "best_accuracy", "final_in_any_mode", "final_kl"):
        m, s = mean_sd([r[f] for r in rs])
        out[f] = {"mean": m, "sd": s, "min": min(r[f] for r in rs), "max": max(r[f] for r in rs)}
    out["to"] = {}
    for t in study.THRESHOLDS:
        th = f"{t:.2f}"
        reached = [r["to"][th] for r in rs if r["to"][th] is not None]
        o = {"reached": len(reached), "of": len(rs)}
        for k, _ in COSTS:
            vals = [x[k] for x in reached]
            m, s = mean_sd(vals)
            o[k] = {"mean": m, "sd": s, "min": min(vals) if vals else math.nan, "max": max(vals) if vals else math.nan}
        out["to"][th] = o
    out["held"] = {}
    for t in study.THRESHOLDS:
        th = f"{t:.2f}"
        reached = [r["held"][th] for r in rs if r["held"][th] is not None]
        m, sd = mean_sd([x["images"] for x in reached])
        out["held"][th] = {"reached": len(reached), "of": len(rs), "images": {"mean": m, "sd": sd}}
    out["budget_images"] = rs[0]["images"]
    out["budget_model_evals"] = statistics.fmean(r["model_evals"] for r in rs)
    out["budget_train_seconds"] = statistics.fmean(r["train_seconds"] for r in rs)
    return out


def paired_ratios(a: dict, ka: str, b: dict, kb: str) -> dict:
    """Speed-up of a over b (cost of b / cost of a) per seed at each threshold, paired by seed.
    When b does not reach the threshold within its budget, its budget is used and the ratio is a
    lower bound (flagged); when a does not reach it there is no ratio."""
    out = {}
    for t in study.THRESHOLDS:
        th = f"{t:.2f}"
        per = {}
        for s, ra in a["runs"].items():
            rb = b["runs"].get(s)
            if rb is None or ka not in ra["series"] or kb not in rb["series"]:
                continue
            ca, cb = ra["series"][ka]["to"][th], rb["series"][kb]["to"][th]
            if ca is None:
                per[s] = None
                continue
            bound = cb is None
            if bound:
                cb = {k: rb["series"][kb][k] for k, _ in COSTS}
            per[s] = {k: cb[k] / ca[k] if ca[k] > 0 else math.nan for k, _ in COSTS} | {"lower_bound": bound}
        o = {"per_seed": per}
        for k, _ in COSTS:
            vals = [p[k] for p in per.values() if p is not None]
            gm, gs = geo_mean_sd(vals)
            m, sd = mean_sd(vals)
            o[k] = {"mean": m, "sd": sd, "geo_mean": gm, "geo_spread": gs,
                    "min": min(vals) if vals else math.nan, "max": max(vals) if vals else math.nan,
                    "n": len(vals), "any_lower_bound": any(p and p["lower_bound"] for p in per.values())}
        out[th] = o
    return out


# ---- text -------------------------------------------------------------------------------------


def fmt_num(x: float, kind: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if kind == "images" or kind == "model_evals":
        return f"{x / 1e3:.1f}k" if x < 1e6 else f"{x / 1e6:.2f}M"
    if kind == "train_seconds":
        return f"{x:.1f}"
    return f"{x:.3f}"


def cost_cell(o: dict, k: str) -> str:
    if o["reached"] == 0:
        return f"not reached (0/{o['of']})"
    v = o[k]
    s = f"{fmt_num(v['mean'], k)} ± {fmt_num(v['sd'], k)}"
    if o["reached"] < o["of"]:
        s += f" ({o['reached']}/{o['of']})"
    return s


def acc_cell(v: dict) -> str:
    return f"{v['mean']:.3f} ± {v['sd']:.3f}"


def ratio_cell(r: dict, k: str) -> str:
    v = r[k]
    if v["n"] == 0:
        return "-"
    s = f"{v['mean']:.2f} ± {v['sd']:.2f} [{v['min']:.2f}, {v['max']:.2f}]"
    if v["any_lower_bound"]:
        s = "≥ " + s
    return s


def headline_table(cs: dict, rows: list[tuple[str, str, str]]) -> list[str]:
    L = ["| configuration | evaluated | best acc. | final acc. | images to 0.9 | model evals to 0.9 | train s to 0.9 "
         "| images to 0.95 | model evals to 0.95 | train s to 0.95 | images to 0.9, held | images to 0.95, held |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, key, how in rows:
        c = cs.get(name)
        if c is None:
            continue
        ag = aggregate(c, key)
        if ag["seeds"] == 0:
            continue
        cells = [c["label"] + f" (n={ag['seeds']})", how, acc_cell(ag["best_accuracy"]), acc_cell(ag["final_accuracy"])]
        for t in ("0.90", "0.95"):
            cells += [cost_cell(ag["to"][t], k) + (" (later build)" if k == "train_seconds" and name in LATER_BUILD
                                                      and ag["to"][t]["reached"] else "") for k, _ in COSTS]
        cells += [cost_cell(ag["held"][t], "images") for t in ("0.90", "0.95")]
        L.append("| " + " | ".join(cells) + " |")
    return L


# ---- plots ------------------------------------------------------------------------------------


def plt_module():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_plot(cs: dict, rows: list[tuple[str, str, str, str]], x: str, path: str, title: str, xlabel: str) -> None:
    """Mean accuracy over seeds against a cost, with the min-max band over seeds."""
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for name, key, label, style in rows:
        c = cs.get(name)
        if c is None:
            continue
        runs = [r["series"][key]["points"] for r in c["runs"].values() if key in r["series"]]
        if not runs:
            continue
        n = min(len(p) for p in runs)
        xs = [statistics.fmean(p[i][x] for p in runs) for i in range(n)]
        ys = [[p[i]["accuracy"] for p in runs] for i in range(n)]
        mean = [statistics.fmean(y) for y in ys]
        colour, ls = style.split(":") if ":" in style else (style, "-")
        ax.plot(xs, mean, color=colour, linestyle=ls, lw=1.8, label=f"{label} (n={len(runs)})")
        ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=colour, alpha=0.15, lw=0)
    for t in study.THRESHOLDS:
        ax.axhline(t, color="#999999", lw=0.8, ls="--")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (64 held-out samples per prompt, 40-step Euler)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def ablation_plot(cs: dict, names: list[tuple[str, str]], path: str, title: str) -> None:
    """Per configuration: best and final accuracy (bars: mean, dots: seeds) and images to 0.9."""
    plt = plt_module()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.45 * len(names) + 1.8), sharey=True)
    labels = []
    for i, (name, label) in enumerate(names):
        c = cs.get(name)
        labels.append(label)
        if c is None:
            continue
        rs = [r["series"]["nft"] for r in c["runs"].values() if "nft" in r["series"]]
        if not rs:
            continue
        for off, f, col in ((-0.2, "best_accuracy", "#08519c"), (0.2, "final_accuracy", "#6baed6")):
            vals = [r[f] for r in rs]
            a1.barh(i + off, statistics.fmean(vals), height=0.38, color=col,
                    label=("best" if f == "best_accuracy" else "final") if i == 0 else None)
            a1.plot(vals, [i + off] * len(vals), "k.", ms=4)
        budget = rs[0]["images"]
        for off, th, col in ((-0.2, "0.90", "#31a354"), (0.2, "0.95", "#a1d99b")):
            vals = [r["to"][th]["images"] if r["to"][th] else math.nan for r in rs]
            got = [v for v in vals if not math.isnan(v)]
            mean = statistics.fmean(got) if len(got) == len(vals) else budget
            a2.barh(i + off, mean, height=0.38, color=col, hatch=None if len(got) == len(vals) else "//",
                    label=f"to {th}" if i == 0 else None)
            a2.plot([v if not math.isnan(v) else budget for v in vals], [i + off] * len(vals), "k.", ms=4)
    a1.set_yticks(range(len(labels)))
    a1.set_yticklabels(labels, fontsize=8)
    a1.invert_yaxis()
    a1.set_xlim(0, 1.02)
    a1.axvline(0.9, color="#999999", lw=0.8, ls="--")
    a1.set_xlabel("accuracy (bar: mean over seeds; dots: seeds)", fontsize=8)
    a1.legend(fontsize=8, loc="lower left")
    a2.set_xlabel("sampled images to reach it (hatched: a seed missed it, its budget counted)", fontsize=8)
    a2.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---- main -------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="out/study", help="root of the run folders (run_study.py --out)")
    ap.add_argument("--dest", default=HERE, help="where results.json, the PNGs and REPORT.md go")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.out)

    results = {"format": "dnft.study/1", "thresholds": study.THRESHOLDS, "eval_seeds": study.EVAL_SEEDS,
               "tune_seed": study.TUNE_SEED, "scales": {}}
    tables: list[str] = []
    for scale, sc in study.SCALES.items():
        # a scale without its own tuning runs uses the settings tuned at D2
        tuned = study.tuned_configs(scale, root) or (study.tuned_configs(scale, root, "D2") if scale != "D2" else [])
        configs = (study.main_configs(scale) + study.tuning_configs(scale) + tuned + study.extra_configs(scale)
                   + study.ablation_configs(scale))
        cs = {c.name: load_config(root, c) for c in configs}
        cs = {k: v for k, v in cs.items() if v["runs"]}
        if not cs:
            continue
        any_run = next(iter(next(iter(cs.values()))["runs"].values()))
        R = {"settings": sc, "base_accuracy": any_run["base_accuracy"],
             "base_accuracy_guided": any_run["base_accuracy_guided"], "configs": {}, "ratios": {}}
        for name, c in cs.items():
            R["configs"][name] = {k: c[k] for k in ("label", "group", "method", "flags", "guidance")}
            R["configs"][name]["series"] = {key: aggregate(c, key) for key in series_keys(study.Config(
                name, c["group"], scale, c["method"]))}
            R["configs"][name]["per_seed"] = {
                str(s): {key: {k: v for k, v in r["series"][key].items() if k != "points"} for key in r["series"]}
                for s, r in c["runs"].items()}
        pairs = [("reference: DiffusionNFT vs FlowGRPO (guidance 4.5)", "nft_ref", "nft", "grpo_ref", "grpo_guided"),
                 ("reference: DiffusionNFT vs FlowGRPO without guidance", "nft_ref", "nft", "grpo_ref_noguid", "grpo_guided"),
                 ("reference: DiffusionNFT scored with guidance 4.5 vs FlowGRPO (guidance 4.5)", "nft_ref_cfg_eval",
                  "nft_guided", "grpo_ref", "grpo_guided"),
                 ("reference: DiffusionNFT vs FlowGRPO with 2 steps per collection (guidance 4.5)", "nft_ref", "nft",
                  "grpo_ref_mb2", "grpo_guided"),
                 ("reference: DiffusionNFT vs FlowGRPO with 2 steps per collection, no guidance", "nft_ref", "nft",
                  "grpo_ref_mb2_noguid", "grpo_guided"),
                 ("tuned: DiffusionNFT vs FlowGRPO (guidance)", "nft_tuned", "nft", "grpo_tuned", "grpo_guided"),
                 ("tuned: DiffusionNFT vs FlowGRPO without guidance", "nft_tuned", "nft", "grpo_tuned_noguid", "grpo_guided")]
        seconds_incomparable = set()
        for label, an, ak, bn, bk in pairs:
            if an in cs and bn in cs:
                R["ratios"][label] = paired_ratios(cs[an], ak, cs[bn], bk)
                if (an in LATER_BUILD) != (bn in LATER_BUILD):
                    seconds_incomparable.add(label)
        results["scales"][scale] = R

        # tables
        tables.append(f"### {scale}: {sc['prompts']} prompts in D = {sc['dim']}, {sc['budget']} sampled images per run\n")
        tables.append(f"Base model accuracy: {R['base_accuracy']:.3f} without guidance, "
                      f"{R['base_accuracy_guided']:.3f} with guidance 4.5.\n")
        rows = [("nft_ref", "nft", "no guidance"), ("nft_ref_cfg_eval", "nft_guided", "guidance 4.5"),
                ("nft_tuned", "nft", "no guidance"),
                ("grpo_ref", "grpo_guided", "guidance 4.5"), ("grpo_ref", "grpo", "no guidance"),
                ("grpo_ref_noguid", "grpo_guided", "no guidance"),
                ("grpo_ref_mb2", "grpo_guided", "guidance 4.5"), ("grpo_ref_mb2_noguid", "grpo_guided", "no guidance"),
                ("grpo_tuned", "grpo_guided", "its guidance"), ("grpo_tuned", "grpo", "no guidance"),
                ("grpo_tuned_noguid", "grpo_guided", "no guidance")]
        tables += headline_table(cs, rows)
        tables.append("\nCosts are means ± standard deviation over the seeds that reached the accuracy (how many, "
                      "when not all), at the first evaluation that reached it; \"held\": the first evaluation from "
                      "which the accuracy stays at or above it to the end of the budget. Training seconds exclude "
                      "evaluation and were measured on a shared, loaded 2-core machine, one thread per run, several "
                      "runs at a time: treat them as rough (\"later build\": a faster build of the demo on a quieter machine, "
                      "not comparable with the others).\n")
        if R["ratios"]:
            tables.append("Speed-up of DiffusionNFT over FlowGRPO = FlowGRPO's cost / DiffusionNFT's cost, paired by "
                          "seed: mean ± sd [min, max] over seeds (≥: FlowGRPO missed the accuracy on some seed and "
                          "its whole budget is counted).\n")
            tables.append("| comparison | accuracy | images | model evaluations | training seconds |")
            tables.append("|---|---|---|---|---|")
            for label, r in R["ratios"].items():
                for th in ("0.90", "0.95"):
                    tables.append(f"| {label} | {th} | " + " | ".join(
                        "not comparable" if k == "train_seconds" and label in seconds_incomparable
                        else ratio_cell(r[th], k) for k, _ in COSTS) + " |")
            tables.append("")
        tune = [c for c in cs.values() if c["group"] == "tune"]
        if tune:
            tables.append(f"Tuning runs (seed {study.TUNE_SEED}; rule: fewest images from which the accuracy holds at "
                          "0.95 or more to the end of the budget, then the same for 0.9, then the final accuracy):\n")
            tables.append("| method | candidate | best acc. | final acc. | images to 0.9 | images to 0.95 "
                          "| images to 0.95, held |")
            tables.append("|---|---|---|---|---|---|---|")
            for c in tune:
                key = study.primary_series(study.Config(c["name"], "tune", scale, c["method"]))
                r = c["runs"][study.TUNE_SEED]["series"][key]
                t9, t95, h95 = r["to"]["0.90"], r["to"]["0.95"], r["held"]["0.95"]
                tables.append(f"| {'DiffusionNFT' if c['method'] == 'nft' else 'FlowGRPO'} | {study.flag_text(c['flags'])} "
                              f"| {r['best_accuracy']:.3f} | {r['final_accuracy']:.3f} "
                              f"| {fmt_num(t9['images'], 'images') if t9 else 'not reached'} "
                              f"| {fmt_num(t95['images'], 'images') if t95 else 'not reached'} "
                              f"| {fmt_num(h95['images'], 'images') if h95 else 'not held'} |")
            for m in ("nft", "grpo"):
                ch = study.choose_tuned(scale, m, root)
                if ch is not None:
                    tables.append(f"\nChosen for {'DiffusionNFT' if m == 'nft' else 'FlowGRPO'}: "
                                  f"{study.flag_text(ch)}.")
            tables.append("")
        abl = [c for c in cs.values() if c["group"] == "ablation"]
        if abl and "nft_ref" in cs:
            # the ablations are evaluated every 2 * eval_every iterations: compare at that resolution
            every = 2 * sc["eval_every"]
            cs["nft_ref_coarse"] = subsampled(cs["nft_ref"], every, "nft_ref_coarse",
                                              f"reference (evaluated every {every} iterations)")
        if abl:
            tables.append("Ablations of DiffusionNFT (each changes one setting of the reference):\n")
            tables += headline_table(cs, [("nft_ref_coarse", "nft", "no guidance")] +
                                     [(c["name"], "nft", "no guidance") for c in abl])
            tables.append("")
            fin = [f"| {c['label']} | " + acc_cell(aggregate(c, 'nft')['final_in_any_mode']) + " | "
                   + acc_cell(aggregate(c, 'nft')['final_kl']) + " |" for c in [cs["nft_ref"]] + abl]
            tables.append("Sample quality at the end (fraction of samples inside any mode) and the KL term to the "
                          "reference:\n")
            tables.append("| configuration | final in-any-mode | final KL (mean (v - v_ref)^2) |")
            tables.append("|---|---|---|")
            tables += fin
            tables.append("")

        if not a.no_plots:
            prefix = os.path.join(a.dest, f"{scale.lower()}_")
            crows = [("nft_ref", "nft", "DiffusionNFT reference", "#08519c"),
                     ("nft_tuned", "nft", "DiffusionNFT tuned (= reference)", "#08519c:--"),
                     ("nft_ref_cfg_eval", "nft_guided", "DiffusionNFT reference, scored with guidance 4.5", "#6baed6:-."),
                     ("grpo_ref", "grpo_guided", "FlowGRPO reference (guidance 4.5)", "#cb181d"),
                     ("grpo_ref_noguid", "grpo_guided", "FlowGRPO reference, no guidance", "#fc9272"),
                     ("grpo_tuned", "grpo_guided", "FlowGRPO tuned (guided)", "#cb181d:--"),
                     ("grpo_tuned_noguid", "grpo_guided", "FlowGRPO tuned, no guidance", "#fc9272:--")]
            title = f"toy-GenEval, {sc['prompts']} prompts, D = {sc['dim']}: mean over seeds, band = min..max"
            for x, xl, fn in (("images", "sampled images", "images"), ("model_evals", "model evaluations", "evals"),
                              ("train_seconds", "training seconds (shared machine)", "seconds")):
                curve_plot(cs, crows, x, prefix + f"accuracy_vs_{fn}.png", title, xl)
            if abl:
                names = [("nft_ref_coarse", "reference (DPM2, beta 1, decay 1)")] + [(c["name"], c["label"]) for c in abl]
                ablation_plot(cs, names, prefix + "ablations.png",
                              f"DiffusionNFT ablations, {sc['prompts']} prompts, D = {sc['dim']}")
                groups = {"solver": ["nft_ref_coarse", "abl_solver_euler", "abl_solver_heun", "abl_solver_sde"],
                          "beta": ["abl_beta_0.01", "abl_beta_0.1", "nft_ref_coarse", "abl_beta_10"],
                          "decay": ["abl_decay_0", "nft_ref_coarse", "abl_decay_2"],
                          "branches": ["nft_ref_coarse", "abl_positive_only", "abl_no_adaptive"]}
                palette = ["#08519c", "#cb181d", "#31a354", "#756bb1"]
                for g, names2 in groups.items():
                    rows2 = [(n, "nft", (cs[n]["label"] if n != "nft_ref_coarse" else "reference"), palette[i])
                             for i, n in enumerate(names2) if n in cs]
                    curve_plot(cs, rows2, "images", prefix + f"ablation_{g}.png",
                               f"DiffusionNFT ablation ({g}), {sc['prompts']} prompts, D = {sc['dim']}", "sampled images")

    with open(os.path.join(a.dest, "results.json"), "w") as f:
        json.dump(nan_to_none(results), f, indent=1)
        f.write("\n")
    rep = os.path.join(a.dest, "REPORT.md")
    text = open(rep).read() if os.path.exists(rep) else "# Study\n\n<!-- tables:begin -->\n<!-- tables:end -->\n"
    b, e = "<!-- tables:begin -->", "<!-- tables:end -->"
    if b not in text or e not in text:
        text += f"\n{b}\n{e}\n"
    head, rest = text.split(b, 1)
    _, tail = rest.split(e, 1)
    with open(rep, "w") as f:
        f.write(head + b + "\n" + "\n".join(tables) + "\n" + e + tail)
    print(f"wrote {rep}, results.json and the plots in {a.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
