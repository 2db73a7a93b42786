# SPDX-License-Identifier: Apache-2.0
# The DiffusionNFT / FlowGRPO algorithm study on toy-GenEval: the configurations, where their runs
# live, how a run's results are read, and how the tuned settings are chosen. Shared by
# run_study.py (runs the demo binary) and report.py (REPORT.md, plots, results.json).
"""Definition of the study: every configuration, its seeds, and the tuning rule."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

# ---- the settings shared by every run ---------------------------------------------------------

EVAL_SEEDS = [0, 1, 2]  # seeds of the reported runs
TUNE_SEED = 100  # tuning runs use their own seed, so the reported runs are not the ones selected on
THRESHOLDS = [0.9, 0.95]

#: (D, prompts) -> demo flags that define the task scale and the budget of sampled images per run.
SCALES = {
    "D2": {"dim": 2, "prompts": 8, "budget": 19200, "eval_every": 5},
    "D16": {"dim": 16, "prompts": 16, "budget": 38400, "eval_every": 10, "grpo_eval_every": 30},
}

# The reference settings of each method are the demo's defaults (ALGORITHM.md):
#   DiffusionNFT: DPM-Solver++(2M) 10 steps, lr 3e-4, beta 1, decay type 1, KL 1e-4, adaptive weight,
#                 advantages "all", no guidance.
#   FlowGRPO:     flow SDE (noise 0.7) 10 steps, lr 3e-4, clip range 1e-4, KL 0.04, guidance 4.5.

#: Tuning candidates: the same number per method, each a set of flags over the reference settings.
#: FlowGRPO's clip range is not tuned: its trainer takes one optimizer step per collected batch, so
#: the PPO ratio is 1 when the gradient is taken and the clip is inert; its "beta" is the KL weight
#: (--grpo-kl-weight), tuned instead. DiffusionNFT's schedule is ablated below (decay types 0 and 2).
TUNING = {
    "nft": [
        {"lr": 1e-3},
        {"lr": 3e-3},
        {"lr": 3e-3, "beta": 0.3},
    ],
    "grpo": [
        {"lr": 1e-3},
        {"lr": 3e-3},
        {"lr": 3e-3, "grpo_kl_weight": 0},
    ],
}

# ---- configurations ---------------------------------------------------------------------------


@dataclass
class Config:
    """One configuration: a name, its study group, the task scale, the method and its flags."""

    name: str
    group: str  # main, tune, tuned, ablation
    scale: str  # key of SCALES
    method: str  # nft or grpo
    flags: dict = field(default_factory=dict)
    seeds: list = field(default_factory=lambda: list(EVAL_SEEDS))
    label: str = ""
    eval_every: int = 0  # 0: the scale's
    runs_of: str = ""  # the runs are those of another configuration (the tuned one is the reference)

    def run_dir(self, root: str, seed: int) -> str:
        return os.path.join(root, self.scale, self.runs_of or self.name, f"seed{seed}")

    def args(self, seed: int) -> list[str]:
        s = SCALES[self.scale]
        a = ["--method", self.method, "--dim", str(s["dim"]), "--prompts", str(s["prompts"]),
             "--budget", str(s["budget"]), "--eval-every", str(self.eval_every or s["eval_every"]), "--seed", str(seed),
             "--threads", "1", "--no-plots"]
        for k, v in self.flags.items():
            if v is None:  # a flag without a value
                a.append("--" + k.replace("_", "-"))
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            a += ["--" + k.replace("_", "-"), str(v)]
        return a


def flag_text(flags: dict) -> str:
    flags = {k: v for k, v in flags.items() if v is not None}
    if not flags:
        return "reference settings"
    names = {"lr": "lr", "beta": "beta", "decay": "decay type", "decay_schedule": "decay schedule", "grpo_kl_weight": "KL", "noise_level": "noise",
             "guidance": "guidance", "solver": "solver", "grpo_minibatches": "optimizer steps per collection", "adv_mode": "advantages", "adaptive_weight": "adaptive weight"}
    return ", ".join(f"{names.get(k, k)} {v}" for k, v in flags.items())


def tuning_name(method: str, i: int) -> str:
    return f"tune_{method}_{i}"


def grpo_eval_every(scale: str) -> int:
    """FlowGRPO runs evaluate two series (with and without guidance) and the guided one costs two
    model evaluations per step: at D = 16 they are evaluated less often to fit the compute budget."""
    return SCALES[scale].get("grpo_eval_every", 0)


def main_configs(scale: str) -> list[Config]:
    g = grpo_eval_every(scale)
    return [
        Config("nft_ref", "main", scale, "nft", {}, label="DiffusionNFT, reference"),
        Config("grpo_ref", "main", scale, "grpo", {}, label="FlowGRPO, reference (guidance 4.5)", eval_every=g),
        Config("grpo_ref_noguid", "main", scale, "grpo", {"guidance": 1.0}, label="FlowGRPO, reference, no guidance",
               eval_every=g),
    ]


def tuning_configs(scale: str) -> list[Config]:
    out = []
    for m in ("nft", "grpo"):
        out.append(Config(f"tune_{m}_ref", "tune", scale, m, {}, seeds=[TUNE_SEED],
                          eval_every=grpo_eval_every(scale) if m == "grpo" else 0,
                          label=f"{'DiffusionNFT' if m == 'nft' else 'FlowGRPO'} tuning: reference settings"))
        for i, f in enumerate(TUNING[m]):
            out.append(Config(tuning_name(m, i), "tune", scale, m, dict(f), seeds=[TUNE_SEED],
                              eval_every=grpo_eval_every(scale) if m == "grpo" else 0,
                              label=f"{'DiffusionNFT' if m == 'nft' else 'FlowGRPO'} tuning: {flag_text(f)}"))
    return out


def tuned_configs(scale: str, root: str, tuned_at: str = "") -> list[Config]:
    """The tuned configurations; empty for a method whose tuning runs are not all done. With
    `tuned_at`, the settings tuned at that other scale (e.g. D16 runs with the D2 choice)."""
    out = []
    for m in ("nft", "grpo"):
        best = choose_tuned(tuned_at or scale, m, root)
        if best is None:
            continue
        flags = dict(best)
        # When the reference settings win the tuning, the tuned runs are the reference runs.
        ref = "" if flags else f"{m}_ref"
        where = f" at {tuned_at}" if tuned_at else ""
        out.append(Config(f"{m}_tuned", "tuned", scale, m, flags, eval_every=grpo_eval_every(scale) if m == "grpo" else 0,
                          runs_of=ref,
                          label=f"{'DiffusionNFT' if m == 'nft' else 'FlowGRPO'}, tuned{where} ({flag_text(flags)})"))
        if m == "grpo":  # the tuned FlowGRPO also without guidance
            f2 = dict(flags)
            f2["guidance"] = 1.0
            out.append(Config("grpo_tuned_noguid", "tuned", scale, m, f2, eval_every=grpo_eval_every(scale),
                              runs_of="" if flags else "grpo_ref_noguid",
                              label=f"FlowGRPO, tuned{where}, no guidance ({flag_text(f2)})"))
    return out


def extra_configs(scale: str) -> list[Config]:
    """Configurations outside the plan, kept because they show something (see tuning_score)."""
    if scale != "D2":
        return []
    return [Config("grpo_lr3e-3", "extra", scale, "grpo", {"lr": 3e-3},
                   label="FlowGRPO, lr 0.003 (the first-crossing rule's pick)"),
            # DiffusionNFT trains without guidance; this also scores its model with guidance 4.5
            Config("nft_ref_cfg_eval", "extra", scale, "nft", {"nft_guidance_eval": None},
                   label="DiffusionNFT, reference, also scored with guidance 4.5"),
            # the reference flow_grpo takes two optimizer steps per collection (dnft's default: one)
            Config("grpo_ref_mb2", "extra", scale, "grpo", {"grpo_minibatches": 2},
                   label="FlowGRPO, reference with 2 optimizer steps per collection (guidance 4.5)"),
            Config("grpo_ref_mb2_noguid", "extra", scale, "grpo", {"grpo_minibatches": 2, "guidance": 1.0},
                   label="FlowGRPO, reference with 2 optimizer steps per collection, no guidance")]


def ablation_configs(scale: str) -> list[Config]:
    A = []

    def add(name, flags, label):
        # evaluated half as often as the main runs, to fit the compute budget
        A.append(Config(name, "ablation", scale, "nft", flags, label=label, eval_every=2 * SCALES[scale]["eval_every"]))

    add("abl_solver_euler", {"solver": "euler"}, "solver Euler")
    add("abl_solver_heun", {"solver": "heun"}, "solver Heun")
    add("abl_solver_sde", {"solver": "sde"}, "solver flow SDE (noise 0.7)")
    add("abl_beta_0.01", {"beta": 0.01}, "beta 0.01")
    add("abl_beta_0.1", {"beta": 0.1}, "beta 0.1")
    add("abl_beta_10", {"beta": 10}, "beta 10")
    add("abl_decay_0", {"decay": 0}, "decay type 0 (fully on-policy)")
    add("abl_decay_2", {"decay": 2}, "decay type 2 (flat 75, then slowly to 0.999)")
    add("abl_decay_slow", {"decay_schedule": "0,1,0.9"}, "decay constant 0.9 (slow)")
    add("abl_positive_only", {"adv_mode": "positive_only"}, "positive-only (no negative branch)")
    add("abl_no_adaptive", {"adaptive_weight": False}, "adaptive weight off (plain velocity loss)")
    return A


def all_configs(root: str, parts: list[str]) -> list[Config]:
    """The configurations of the requested parts, in the order they should run."""
    out: list[Config] = []
    for p in parts:
        scale, _, what = p.partition(":")
        if scale not in SCALES:
            raise SystemExit(f"unknown scale in part {p!r}; expected one of {sorted(SCALES)}")
        if what == "main":
            out += main_configs(scale)
        elif what == "tune":
            out += tuning_configs(scale)
        elif what == "tuned":
            out += tuned_configs(scale, root)
        elif what.startswith("tuned@"):  # the settings tuned at another scale
            out += tuned_configs(scale, root, what.partition("@")[2])
        elif what == "ablation":
            out += ablation_configs(scale)
        elif what == "extra":
            out += extra_configs(scale)
        else:
            raise SystemExit(f"unknown part {p!r}; expected SCALE:main, SCALE:tune, SCALE:tuned, SCALE:tuned@OTHER_SCALE, "
                             "SCALE:extra or SCALE:ablation")
    return out


# ---- reading runs -----------------------------------------------------------------------------


def load_summary(run_dir: str) -> dict | None:
    path = os.path.join(run_dir, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def primary_series(cfg: Config) -> str:
    """The evaluation series a configuration is judged by: FlowGRPO is scored with the guidance it
    samples with (the reference's protocol), DiffusionNFT without guidance."""
    return "nft" if cfg.method == "nft" else "grpo_guided"


def load_series(run_dir: str, key: str) -> list[dict]:
    """Evaluation points of one series from <method>_metrics.jsonl: iteration, images,
    model_evals, train_seconds, accuracy, in_any_mode."""
    method = "nft" if key.startswith("nft") else "grpo"
    guided = key.endswith("_guided")
    acc = "eval_accuracy_guided" if guided else "eval_accuracy"
    any_ = "eval_in_any_mode_guided" if guided else "eval_in_any_mode"
    pts = []
    with open(os.path.join(run_dir, f"{method}_metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if acc not in r:
                # FlowGRPO without guidance (--guidance 1): both of its series are unguided and
                # the metrics columns have no _guided suffix.
                if guided and method == "grpo" and "eval_accuracy" in r:
                    acc2, any2 = "eval_accuracy", "eval_in_any_mode"
                else:
                    continue
            else:
                acc2, any2 = acc, any_
            pts.append({"iteration": r["iteration"], "images": r["images"], "model_evals": r["model_evals"],
                        "train_seconds": r.get("train_seconds", 0.0), "accuracy": r[acc2],
                        "in_any_mode": r.get(any2, float("nan")), "kl": r.get("kl", float("nan"))})
    return pts


def crossing(points: list[dict], threshold: float) -> dict | None:
    for p in points:
        if p["accuracy"] >= threshold:
            return p
    return None


def held_from(points: list[dict], threshold: float) -> dict | None:
    """The first evaluation from which the accuracy stays >= threshold until the end of the run."""
    held = None
    for p in points:
        if p["accuracy"] >= threshold:
            held = held or p
        else:
            held = None
    return held


def tuning_score(points: list[dict]) -> tuple:
    """Smaller is better: images from which the accuracy holds at >= 0.95 to the end of the run,
    then the same for 0.9, then minus the final accuracy (a run that never holds a threshold
    counts as infinitely expensive there). The first version of this rule used the first
    evaluation that reached 0.95 (not held); on D = 2 it picked FlowGRPO at lr 3e-3, whose accuracy
    touched 1.0 early and then swung down to 0.47 and ended at 0.875, so the rule was changed to
    the held crossing before any tuned run was reported (that setting is kept as an extra
    configuration, grpo_lr3e-3)."""
    h95 = held_from(points, 0.95)
    h90 = held_from(points, 0.9)
    final = points[-1]["accuracy"] if points else 0.0
    return (h95["images"] if h95 else math.inf, h90["images"] if h90 else math.inf, -final)


def choose_tuned(scale: str, method: str, root: str) -> dict | None:
    """The flags of the best tuning candidate of a method, reference settings included as a
    candidate (its run at the tuning seed is part of the tuning set), or None while runs are missing."""
    cands = [({}, Config(f"tune_{method}_ref", "tune", scale, method, {}, seeds=[TUNE_SEED]))]
    for i, f in enumerate(TUNING[method]):
        cands.append((f, Config(tuning_name(method, i), "tune", scale, method, dict(f), seeds=[TUNE_SEED])))
    best = None
    for flags, cfg in cands:
        d = cfg.run_dir(root, TUNE_SEED)
        if load_summary(d) is None:
            return None
        score = tuning_score(load_series(d, primary_series(cfg)))
        if best is None or score < best[0]:
            best = (score, flags)
    return best[1]
