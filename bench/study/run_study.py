#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Runs the DiffusionNFT / FlowGRPO algorithm study on toy-GenEval with the demo program
# (examples/geneval_demo.cpp): every configuration of bench/study/study.py at every seed, one
# demo run each, in a shared output tree. One base model per task scale is pre-trained once and
# shared (each run's cache/ folder is a link to <out>/cache). Resumable: a run whose summary.json
# exists is skipped, so the script can be stopped and started again.
#
#   bench/study/run_study.py --binary build/demo/examples/dnft_example_geneval_demo --out out/study \
#       [--parts D2:main,D2:tune,D2:tuned,D2:ablation,D16:main,D16:tune,D16:tuned] [--jobs 2]
#
# Then bench/study/report.py --out out/study writes bench/study/{REPORT.md,results.json,*.png}.
"""Runs the study's configurations with the demo binary (resumable)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study  # noqa: E402

DEFAULT_PARTS = "D2:main,D2:tune,D2:tuned,D2:extra,D2:ablation,D16:main,D16:tuned@D2"


def run_one(binary: str, root: str, cfg: study.Config, seed: int, dry: bool) -> tuple[str, float, int]:
    d = cfg.run_dir(root, seed)
    if study.load_summary(d) is not None:
        return d, 0.0, -1
    os.makedirs(d, exist_ok=True)
    cache = os.path.join(d, "cache")
    shared = os.path.abspath(os.path.join(root, "cache"))
    os.makedirs(shared, exist_ok=True)
    if not os.path.islink(cache):
        if os.path.exists(cache):
            raise SystemExit(f"{cache} exists and is not a link to the shared cache; remove it")
        os.symlink(shared, cache)
    cmd = [binary, *cfg.args(seed), "--out", d]
    if dry:
        print("would run:", " ".join(cmd))
        return d, 0.0, 0
    t0 = time.time()
    with open(os.path.join(d, "log.txt"), "w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    return d, time.time() - t0, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True, help="the demo program (dnft_example_geneval_demo)")
    ap.add_argument("--out", default="out/study", help="root of the run folders and the shared base cache")
    ap.add_argument("--parts", default=DEFAULT_PARTS,
                    help="comma-separated SCALE:PART, PART one of main, tune, tuned, extra, ablation (tuned needs tune done)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (each single-threaded)")
    ap.add_argument("--seeds", default=None, help="override the evaluation seeds, e.g. 0,1,2,3")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        print(f"run_study: {binary}: not an executable", file=sys.stderr)
        return 2
    if a.seeds:
        study.EVAL_SEEDS[:] = [int(s) for s in a.seeds.split(",")]
    root = os.path.abspath(a.out)
    os.makedirs(root, exist_ok=True)

    failures = 0
    for part in a.parts.split(","):
        # resolved part by part: the tuned configurations need the tuning runs' results
        jobs = [(c, s) for c in study.all_configs(root, [part]) for s in c.seeds]
        if ":tuned" in part and not jobs:
            print(f"{part}: tuning runs missing, skipped")
            continue
        todo = [(c, s) for c, s in jobs if study.load_summary(c.run_dir(root, s)) is None]
        print(f"{part}: {len(jobs)} runs, {len(todo)} to do", flush=True)
        if not todo:
            continue
        # The first run of a scale may pre-train the shared base: run it alone.
        first, rest = todo[0], todo[1:]
        done = 0

        def report(res, cfg, seed):
            nonlocal failures, done
            d, secs, rc = res
            done += 1
            status = "ok" if rc == 0 else ("skipped" if rc == -1 else f"FAILED (status {rc}, see {d}/log.txt)")
            failures += rc > 0
            print(f"  [{done}/{len(todo)}] {cfg.scale} {cfg.name} seed {seed}: {status} in {secs:.0f} s", flush=True)

        report(run_one(binary, root, first[0], first[1], a.dry_run), *first)
        with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            futs = [(pool.submit(run_one, binary, root, c, s, a.dry_run), c, s) for c, s in rest]
            for f, c, s in futs:
                report(f.result(), c, s)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
