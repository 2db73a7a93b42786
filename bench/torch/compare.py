#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""dnft's fused nft_loss against the reference DiffusionNFT loss in eager PyTorch (nft_torch.py).

    compare.py [--cli PATH] [--rounds 3] [--reps 5] [--threads 1 2] [--out FILE.json]
        times both on identical data (B = 64, D = 16x64x64 and B = 8, D = 16x128x128; forward only
        and forward + gradient; 1 and 2 threads), prints a Markdown table of medians and ratios and
        writes every measurement to --out.
    compare.py --check [--cli PATH]
        checks on small cases (default options and the other advantage modes, beta, clip, KL
        weights, no v_ref) that dnft and PyTorch autograd give the same loss and gradient;
        exit status 0 on agreement, 1 on a mismatch, 77 (skip) when torch cannot be imported.

The dnft side runs in dnft_nft_cli (built by CMake, target dnft_nft_cli; default path: the release
preset's build/release/bench/torch/dnft_nft_cli). Both sides read the same files, written here from
a seeded torch.Generator. Each timing is a median over rounds x reps repetitions after warm-up; the
rounds alternate between PyTorch and dnft so that a change of load on a shared machine affects both.
PyTorch is timed in three settings: as installed ("stock": glibc malloc returns large temporaries
to the system, so every pass page-faults them in again; OpenMP threads spin while they wait);
"malloc": glibc told to keep freed memory (GLIBC_TUNABLES mmap_max=0, no trimming), so after warm-up
no temporary page-faults; "malloc+passive": that and OMP_WAIT_POLICY=PASSIVE, so idle OpenMP threads
sleep as dnft's pool threads do (on a loaded machine spinning threads steal the time slices of the
working ones). The ratio uses the fastest of the three, the figure most favourable to PyTorch.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CLI = os.path.join(ROOT, "build", "release", "bench", "torch", "dnft_nft_cli")
SKIP = 77
KEEP_MEMORY = {"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=18446744073709551615"}
TORCH_SETTINGS = {"stock": {}, "malloc": KEEP_MEMORY, "malloc+passive": {**KEEP_MEMORY, "OMP_WAIT_POLICY": "PASSIVE"}}


def need_torch():
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"compare.py: SKIP: {sys.executable} cannot import torch/numpy ({e}); "
              "install Debian's python3-torch (scripts/deps.sh python3-torch)", file=sys.stderr)
        sys.exit(SKIP)
    sys.path.insert(0, HERE)


def run_cli(cli, command, directory, B, D, threads, extra=()):
    cmd = [cli, command, "--dir", directory, "--batch", str(B), "--elements", str(D), "--threads", str(threads),
           *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def find_cli(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit(f"compare.py: no dnft_nft_cli at {path}; build it (cmake --preset release && "
                 "cmake --build --preset release --target dnft_nft_cli) or pass --cli")
    return path


# ---- the correctness check -------------------------------------------------------------------

CHECK_CASES = [
    # (name, options of nft_torch.nft_loss, with v_ref)
    ("defaults", {}, True),
    ("beta=0.1, positive_only", {"beta": 0.1, "adv_mode": "positive_only"}, True),
    ("C=2, negative_only, kl_weight=0.01", {"adv_clip_max": 2.0, "adv_mode": "negative_only", "kl_weight": 1e-2}, True),
    ("one_only, beta=2", {"adv_mode": "one_only", "beta": 2.0}, True),
    ("binary, no v_ref", {"adv_mode": "binary"}, False),
]
CLI_FLAGS = {"beta": "--beta", "adv_clip_max": "--adv-clip", "kl_weight": "--kl-weight", "adv_mode": "--adv-mode"}
TOL = 1e-5


def check(cli):
    import numpy as np
    import torch
    import nft_torch

    shape = (6, 2, 5, 7)
    B, D = shape[0], int(np.prod(shape[1:]))
    d = nft_torch.make_data(shape, seed=5)
    d["t"][0], d["t"][1] = 0.0, 1.0          # t = 0: both weights at the floor; t = 1: x_t = eps
    d["adv"][:4] = torch.tensor([7.5, -9.0, 0.0, 4.0])  # clipped both ways, A = 0, inside the clip
    d["v_theta"][2] = d["v_old"][2]          # sample 2 on-policy at A = 0: zero policy gradient
    failures = 0
    with tempfile.TemporaryDirectory(prefix="dnft_torch_check_") as tmp:
        nft_torch.save_data(d, tmp)
        for name, opts, with_ref in CHECK_CASES:
            extra = [x for k, v in opts.items() for x in (CLI_FLAGS[k], str(v))] + ([] if with_ref else ["--no-ref"])
            res = run_cli(cli, "check", tmp, B, D, 2, extra)
            g_dnft = torch.from_numpy(np.fromfile(os.path.join(tmp, "dnft_grad.f32"), dtype=np.float32)).reshape(shape)
            out = {}
            for dtype in (torch.float32, torch.float64):
                vt = d["v_theta"].to(dtype).detach().requires_grad_(True)
                loss, policy, kl = nft_torch.nft_loss(d["x0"].to(dtype), d["eps"].to(dtype), d["t"].to(dtype),
                                                      d["adv"].to(dtype), vt, d["v_old"].to(dtype),
                                                      d["v_ref"].to(dtype) if with_ref else None, **opts)
                loss.backward()
                out[dtype] = (loss.item(), policy.item(), kl.item(), vt.grad.double())
            loss_t, policy_t, kl_t, g_t = out[torch.float32]
            loss_64, _, _, g_64 = out[torch.float64]

            def rel(a, b):
                return abs(a - b) / max(abs(b), 1e-30)

            def grad_err(g, ref):
                return ((g.double() - ref).abs().max() / ref.abs().max()).item()

            s = res["stats"]
            errs = {"loss": rel(s["loss"], loss_t), "policy_loss": rel(s["policy_loss"], policy_t),
                    "kl": abs(s["kl"] - kl_t) / max(abs(kl_t), 1e-30) if with_ref else abs(s["kl"]),
                    "loss (forward only)": rel(res["stats_fwd"]["loss"], loss_t),
                    "grad": grad_err(g_dnft, g_t)}
            ok = all(e <= TOL for e in errs.values())
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: loss dnft {s['loss']:.9g} torch {loss_t:.9g}; "
                  + ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
                  + f" (max relative error allowed {TOL:g}); against torch float64: "
                  f"dnft loss {rel(s['loss'], loss_64):.1e} grad {grad_err(g_dnft, g_64):.1e}, "
                  f"torch float32 loss {rel(loss_t, loss_64):.1e} grad {grad_err(g_t, g_64):.1e}")
    print(f"compare.py --check: {len(CHECK_CASES) - failures} of {len(CHECK_CASES)} cases agree "
          f"(torch {torch.__version__}, shape {shape})")
    return 1 if failures else 0


# ---- the timing comparison -------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def compare(a):
    import numpy as np
    import torch
    import nft_torch

    cli = find_cli(a.cli)
    shapes = [tuple(int(x) for x in s.split(",")) for s in a.shapes]
    samples = {}  # (shape, threads, side, mode) -> {"wall_ms": [...], "cpu_ms": [...]}, side torch:<setting> or dnft
    losses = {}
    load = [os.getloadavg()]

    def add(key, run):
        s = samples.setdefault(key, {"wall_ms": [], "cpu_ms": []})
        s["wall_ms"] += run["wall_ms"]
        s["cpu_ms"] += run["cpu_ms"]
        losses.setdefault(key[:2] + (key[2].split(":")[0],), run["loss"])

    tmp = tempfile.mkdtemp(prefix="dnft_torch_bench_")
    try:
        dirs = {}
        for shape in shapes:
            dirs[shape] = os.path.join(tmp, "x".join(map(str, shape)))
            os.mkdir(dirs[shape])
            nft_torch.save_data(nft_torch.make_data(shape, seed=2509), dirs[shape])
        for rnd in range(a.rounds):
            for shape in shapes:
                B, D = shape[0], int(np.prod(shape[1:]))
                for vname, setting in TORCH_SETTINGS.items():
                    env = {**os.environ, **setting}
                    cmd = [sys.executable, os.path.join(HERE, "nft_torch.py"), "time", "--dir", dirs[shape],
                           "--shape", ",".join(map(str, shape)), "--threads", *map(str, a.threads),
                           "--reps", str(a.reps), "--warmup", str(a.warmup)]
                    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if p.returncode != 0:
                        sys.exit(f"compare.py: {' '.join(cmd)} failed: {p.stderr.strip()}")
                    for run in json.loads(p.stdout)["runs"]:
                        for mode in ("fwd", "grad"):
                            add((shape, run["threads"], "torch:" + vname, mode), run[mode])
                for n in a.threads:
                    res = run_cli(cli, "time", dirs[shape], B, D, n,
                                  ["--reps", str(a.reps), "--warmup", str(a.warmup)])
                    for mode in ("fwd", "grad"):
                        add((shape, n, "dnft", mode), res[mode])
                load.append(os.getloadavg())
                print(f"round {rnd + 1}/{a.rounds}, shape {shape}: done (load average {load[-1][0]:.1f})",
                      file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: {m: statistics.median(v[m]) for m in ("wall_ms", "cpu_ms")} for k, v in samples.items()}
    rows = []
    for shape in shapes:
        B, D = shape[0], int(np.prod(shape[1:]))
        for n in a.threads:
            for mode in ("fwd", "grad"):
                tm = {v: med[(shape, n, "torch:" + v, mode)] for v in TORCH_SETTINGS}
                dn = med[(shape, n, "dnft", mode)]
                fastest = min(TORCH_SETTINGS, key=lambda v: tm[v]["wall_ms"])
                best, best_cpu = tm[fastest]["wall_ms"], tm[fastest]["cpu_ms"]
                lt, ld = losses[(shape, n, "torch")], losses[(shape, n, "dnft")]
                rows.append({"B": B, "D": D, "shape": list(shape), "threads": n, "mode": mode,
                             **{f"torch_{v}_ms": tm[v]["wall_ms"] for v in TORCH_SETTINGS},
                             "torch_ms": best, "torch_fastest": fastest,
                             "dnft_ms": dn["wall_ms"], "ratio": best / dn["wall_ms"],
                             "torch_cpu_ms": best_cpu, "dnft_cpu_ms": dn["cpu_ms"], "ratio_cpu": best_cpu / dn["cpu_ms"],
                             "loss_torch": lt, "loss_dnft": ld, "loss_rel_diff": abs(lt - ld) / abs(lt)})
    names = {"fwd": "forward", "grad": "forward + gradient"}
    lines = ["| shape (B x D) | threads | mode | " + " | ".join(f"torch ms ({v})" for v in TORCH_SETTINGS)
             + " | dnft ms | ratio (wall) | ratio (CPU time) |", "|---" * (len(TORCH_SETTINGS) + 6) + "|"]
    for r in rows:
        lines.append(f"| {r['B']} x {r['D']} | {r['threads']} | {names[r['mode']]} | "
                     + " | ".join(f"{r[f'torch_{v}_ms']:.1f}" for v in TORCH_SETTINGS)
                     + f" | {r['dnft_ms']:.3g} | **{r['ratio']:.1f}x** | {r['ratio_cpu']:.1f}x |")
    print("\n".join(lines))
    print(f"\nmedians of {a.rounds} rounds x {a.reps} repetitions (after {a.warmup} warm-up calls each); ratio = "
          "the fastest PyTorch median / dnft median; CPU time: process CPU time, all threads, of the same settings")
    for r in rows:
        if r["mode"] == "grad":
            verdict = "meets" if r["ratio"] >= 20 else "misses"
            print(f"fused loss + gradient vs torch loss + backward, {r['B']} x {r['D']}, {r['threads']} thread(s): "
                  f"{r['ratio']:.1f}x ({verdict} the 20x goal)")
    worst = max(r["loss_rel_diff"] for r in rows)
    print(f"largest relative loss difference, dnft vs torch, over the timed problems: {worst:.1e}")
    lo, hi = min(x[0] for x in load), max(x[0] for x in load)
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; load average (1 min) {lo:.1f} to {hi:.1f} "
          f"during the run; torch {torch.__version__}, Python {platform.python_version()}")
    result = {"torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_model(),
              "cpus": os.cpu_count(), "load_average": load, "rounds": a.rounds, "reps": a.reps, "warmup": a.warmup,
              "rows": rows,
              "samples": [{"shape": list(k[0]), "threads": k[1], "side": k[2], "mode": k[3], **v}
                          for k, v in samples.items()]}
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"results: {a.out}")
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only the small-case correctness check")
    p.add_argument("--cli", default=DEFAULT_CLI, help="path of dnft_nft_cli (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--shapes", nargs="+", default=["64,16,64,64", "8,16,128,128"], help="B,C,H,W ...")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "release", "bench", "torch_compare.json"))
    a = p.parse_args(argv)
    need_torch()
    if a.check:
        return check(find_cli(a.cli))
    return compare(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
