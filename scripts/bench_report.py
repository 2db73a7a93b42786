#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Summarises a Google Benchmark JSON file (--benchmark_out=FILE --benchmark_out_format=json).

For every benchmark it prints the median (and minimum) real time and bytes/s. When a
benchmark reports the counter "bytes" and the same binary ran a `bm_triad` benchmark with
the same arguments (e.g. B:64/D:65536/threads:1), it also prints the bandwidth bound
bytes / triad bandwidth and the ratio time / bound ("ratio to triad bound"; 1.0 means the
kernel moves its arguments as fast as a STREAM triad moves its arrays), from the median
times, from the minimum times, and from the minimum process CPU times (benchmarks use
MeasureProcessCPUTime), which do not count time slices lost to other processes on a shared
machine: on an idle machine CPU time = threads x wall time for a balanced parallel kernel, so
the CPU ratio estimates the idle-machine ratio. A family
`<name>_eager` is the baseline of `<name>_fused`: the speed-up is eager time / fused time.

bench_kernels (the kernel suite: families bm_<kernel> with variants bm_<kernel>_raw, _naive,
_eigen, _xtensor, _nocheck) gets its own summary instead of the full table (--all prints both):
one row per kernel and shape with the fraction of the triad bandwidth, the speed-up over the
naive multi-pass version, the library / raw-baseline and adapter / library time ratios; then a
linearity check, a least-squares fit time = a + b n over the B x D sweep (n = B D elements).

Usage: scripts/bench_report.py FILE.json [--stat median|min|mean] [--all]
Only the standard library is used.
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = defaultdict(lambda: defaultdict(list))  # name -> stat -> values (seconds or counters)
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        secs = b["real_time"] * UNIT[b.get("time_unit", "ns")]
        if b.get("run_type") == "aggregate":
            stat = b["aggregate_name"]
            if stat in ("stddev", "cv"):
                continue
            runs[name][stat] = [(secs, b)]
        else:
            runs[name]["iterations"].append((secs, b))
    out = {}
    for name, stats in runs.items():
        its = stats.get("iterations", [])
        rec = {}
        for stat in ("median", "min", "mean"):
            if stat in stats:
                rec[stat] = stats[stat][0]
            elif its:
                pick = {"median": statistics.median_low, "min": min, "mean": None}[stat]
                if pick is None:
                    rec[stat] = (statistics.fmean(s for s, _ in its), its[0][1])
                else:
                    secs = pick([s for s, _ in its])
                    rec[stat] = next((s, b) for s, b in its if s == secs)
        rec["n"] = len(its) if its else 1
        out[name] = rec
    return data.get("context", {}), out


def split(name):
    family, _, args = name.partition("/")
    return family, args


def fmt_time(s):
    return f"{s * 1e3:.3f} ms" if s >= 1e-4 else f"{s * 1e6:.2f} us"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--stat", default="median", choices=["median", "min", "mean"])
    ap.add_argument("--all", action="store_true", help="bench_kernels: also print every benchmark")
    a = ap.parse_args()
    ctx, runs = load(a.file)
    if not runs:
        sys.exit("bench_report: no benchmark results in " + a.file)
    if any(split(n)[0].endswith("_naive") for n in runs) and not any(split(n)[0] == "bm_nft_fused" for n in runs):
        print(f"# {a.file}: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
              f"load average {ctx.get('load_avg', '?')}, statistic: {a.stat}")
        kernels_summary(runs, a.stat)
        if not a.all:
            return

    def get(name, stat=None):
        rec = runs.get(name, {})
        return rec.get(stat or a.stat) or rec.get("median") or rec.get("mean")

    triad = {}  # args -> bytes/s
    for name in runs:
        fam, args = split(name)
        if fam == "bm_triad":
            s, b = get(name)
            triad[args] = b["bytes"] / s

    print(f"# {a.file}: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"load average {ctx.get('load_avg', '?')}, statistic: {a.stat} (and min)")
    print()
    hdr = ["benchmark", f"time ({a.stat})", "time (min)", "GB/s", "triad GB/s", "ratio to triad bound",
           "ratio (min)", "ratio (cpu)", "other"]
    rows = []
    first_seen = {}  # family -> registration order (family_index), else order of appearance
    for name in runs:
        b = get(name)[1]
        first_seen.setdefault(split(name)[0], b.get("family_index", len(first_seen)))
    # grouped by arguments (shape, threads), the triad first, then families in registration order
    order = sorted(runs, key=lambda n: (split(n)[1], split(n)[0] != "bm_triad", first_seen[split(n)[0]]))
    for name in order:
        fam, args = split(name)
        s, b = get(name)
        smin = get(name, "min")[0] if get(name, "min") else s
        gbs = f"{b['bytes'] / s / 1e9:.2f}" if "bytes" in b else ""
        tbw = triad.get(args)
        ratio = rmin = ""
        if "bytes" in b and tbw and fam != "bm_triad":
            ratio = f"{s / (b['bytes'] / tbw):.2f}"
            tmin = get("bm_triad/" + args, "min")
            if tmin:  # best kernel time against the best triad bandwidth
                rmin = f"{smin / (b['bytes'] / (tmin[1]['bytes'] / tmin[0])):.2f}"
        rcpu = ""  # the ratio of (process) CPU times, which time slices lost to other processes do not inflate
        tmin = get("bm_triad/" + args, "min")
        if "bytes" in b and tmin and fam != "bm_triad" and get(name, "min"):
            kb = get(name, "min")[1]
            kcpu = kb["cpu_time"] * UNIT[kb.get("time_unit", "ns")]
            tb = tmin[1]
            tcpu = tb["cpu_time"] * UNIT[tb.get("time_unit", "ns")]
            rcpu = f"{kcpu / (b['bytes'] / (tb['bytes'] / tcpu)):.2f}"
        other = []
        if "items_per_second" in b:
            ips = b["items_per_second"]
            other.append(f"{ips / 1e6:.1f} M items/s")
        if fam.endswith("_fused"):
            base = get(fam[: -len("_fused")] + "_eager/" + args)
            if base:
                other.append(f"{base[0] / s:.1f}x faster than eager")
        rows.append([name.replace("/process_time", "").replace("/real_time", ""), fmt_time(s), fmt_time(smin), gbs,
                     f"{tbw / 1e9:.2f}" if tbw and "bytes" in b else "", ratio, rmin, rcpu, ", ".join(other)])
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(hdr))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    nft_summary(runs)


def nft_summary(runs):
    """The table of bench/README.md: one row per shape and thread count of bench_nft_loss."""
    def rec(name, stat):
        r = runs.get(name, {}).get(stat)
        return r[1] if r else None

    def secs(b, key="real_time"):
        return b[key] * UNIT[b.get("time_unit", "ns")]

    def key(args):
        f = dict(x.split(":") for x in args.split("/") if ":" in x)
        return (-int(f.get("B", 0)), int(f.get("D", 0)), int(f.get("threads", 0)))

    rows = sorted({split(n)[1] for n in runs if split(n)[0] == "bm_nft_fused"}, key=key)
    if not rows:
        return
    print()
    print("| shape (B x D) | threads | triad GB/s | fused: median (min) | fused GB/s | ratio to triad bound:"
          " median / min / CPU | eager: median | speed-up | Philox noise: median, ratio |"
          " no v_ref: median, ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for args in rows:
        fields = dict(x.split(":") for x in args.split("/") if ":" in x)
        need = {f: (rec(f"{f}/{args}", "median"), rec(f"{f}/{args}", "min"))
                for f in ("bm_triad", "bm_nft_fused", "bm_nft_fused_philox", "bm_nft_fused_noref", "bm_nft_eager")}
        if any(m is None for m, _ in need.values()):
            continue
        (tr, trm), (fu, fum), (ph, _), (nr, _), (ea, _) = need.values()
        bw = tr["bytes"] / secs(tr)
        ratio = lambda b: secs(b) / (b["bytes"] / bw)
        r_min = secs(fum) / (fum["bytes"] / (trm["bytes"] / secs(trm)))
        r_cpu = secs(fum, "cpu_time") / (fum["bytes"] / (trm["bytes"] / secs(trm, "cpu_time")))
        print(f"| {fields['B']} x {fields['D']} | {fields['threads']} | {bw / 1e9:.2f} | "
              f"{secs(fu) * 1e3:.2f} ms ({secs(fum) * 1e3:.2f}) | {fu['bytes'] / secs(fu) / 1e9:.2f} | "
              f"**{ratio(fu):.2f}** / {r_min:.2f} / {r_cpu:.2f} | {secs(ea) * 1e3:.0f} ms | "
              f"{secs(ea) / secs(fu):.1f}x | {secs(ph) * 1e3:.1f} ms, {ratio(ph):.1f} | "
              f"{secs(nr) * 1e3:.2f} ms, {ratio(nr):.2f} |")
    fills = sorted(n for n in runs if split(n)[0] == "bm_philox_fill")
    for n in fills:
        b = rec(n, "median")
        if b and "items_per_second" in b:
            print(f"\nphilox_normal::fill, {split(n)[1].replace('/process_time', '').replace('/real_time', '')}: "
                  f"{b['items_per_second'] / 1e6:.1f} M normals/s (median)", end="")
    print()


VARIANTS = ("_raw", "_naive", "_eigen", "_xtensor", "_nocheck")


def fields(args):
    return dict(x.split(":") for x in args.replace("/process_time", "").replace("/real_time", "").split("/")
                if ":" in x and not x.startswith("iterations"))


def kernels_summary(runs, stat):
    """bench_kernels: per kernel and shape, the library call against its baselines and the triad."""
    def rec(fam, args, st=stat):
        r = runs.get(f"{fam}/{args}", {})
        r = r.get(st) or r.get("median")
        return r[1] if r else None

    def secs(b, key="real_time"):
        return b[key] * UNIT[b.get("time_unit", "ns")]

    fams, shapes = [], set()
    for name in runs:
        fam, args = split(name)
        shapes.add(args)
        base = fam
        for v in VARIANTS:
            if fam.endswith(v):
                base = fam[: -len(v)]
        if base not in fams and base != "bm_triad":
            fams.append(base)
    order = {}  # family -> registration order
    for n, r in runs.items():
        order.setdefault(split(n)[0], (r.get("median") or r.get("mean"))[1].get("family_index", 0))
    fams.sort(key=lambda f: order.get(f, 0))

    def skey(args):
        f = fields(args)
        return (int(f.get("B", 0)) * int(f.get("D", 1)), int(f.get("B", 0)))

    shapes = sorted(shapes, key=skey)
    print()
    print("| kernel | shape (B x D) | time | GB/s | fraction of triad: median / CPU | speed-up vs naive |"
          " library / raw | Eigen / view | xtensor / view |")
    print("|  |  | median | median |  | median (CPU) | median (CPU) | median (CPU) | median (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    lin = {}
    for fam in fams:
        for args in shapes:
            b = rec(fam, args)
            if not b:
                continue
            f = fields(args)
            t = secs(b)
            n = int(f["B"]) * int(f.get("D", 1))
            lin.setdefault(fam, []).append((n, t, f"{f['B']} x {f['D']}"))
            steps = b.get("steps")
            time = f"{t * 1e6:.1f} us" if t < 1e-2 else f"{t * 1e3:.2f} ms"
            if steps:
                time += f" ({t / steps * 1e6:.1f} us/step)"
            gbs = frac = ""
            tr = rec("bm_triad", args)
            if "bytes" in b:
                gbs = f"{b['bytes'] / t / 1e9:.2f}"
                if tr:
                    frac = f"{(b['bytes'] / t) / (tr['bytes'] / secs(tr)):.2f}"
                    trm, km = rec("bm_triad", args, "min"), rec(fam, args, "min")
                    if trm and km:  # fastest repetitions, process CPU time
                        frac += f" / {(km['bytes'] / secs(km, 'cpu_time')) / (trm['bytes'] / secs(trm, 'cpu_time')):.2f}"
            def ratio(num_fam, den_fam, digits=2, suffix=""):
                """median real-time ratio (and the ratio of the fastest repetitions' CPU times)"""
                a, b = rec(num_fam, args), rec(den_fam, args)
                if not a or not b:
                    return ""
                am, bm = rec(num_fam, args, "min"), rec(den_fam, args, "min")
                cpu = f" ({secs(am, 'cpu_time') / secs(bm, 'cpu_time'):.{digits}f})" if am and bm else ""
                return f"{secs(a) / secs(b):.{digits}f}{suffix}{cpu}"
            print(f"| {fam[3:]} | {f['B']} x {f['D']} | {time} | {gbs} | {frac} | {ratio(fam + '_naive', fam, 1, 'x')} | "
                  f"{ratio(fam, fam + '_raw')} | {ratio(fam + '_eigen', fam)} | {ratio(fam + '_xtensor', fam)} |")
    # the triad itself, for the linearity check
    for args in shapes:
        b = rec("bm_triad", args)
        if b:
            f = fields(args)
            lin.setdefault("bm_triad", []).append((int(f["B"]) * int(f["D"]), secs(b), f"{f['B']} x {f['D']}"))
    nocheck = [n for n in runs if split(n)[0].endswith("_nocheck")]
    if nocheck:
        print()
        for fam in sorted({split(n)[0] for n in nocheck}):
            parts = []
            for args in shapes:
                b, lib = rec(fam, args), rec(fam[: -len("_nocheck")], args)
                if b and lib:
                    f = fields(args)
                    parts.append(f"{f['B']} x {f['D']}: {secs(lib) / secs(b):.2f}")
            print(f"{fam[3:-len('_nocheck')]} with / without the finiteness check of the gradients: " + ", ".join(parts))
    print()
    print("Linearity: time = a + b n fitted over the sweep by least squares on relative errors (n = B D"
          " elements, or B); worst relative residual of the fit; ns per element (median time / n) at each shape.")
    size = lambda s: int(s.split(" x ")[0]) * int(s.split(" x ")[1])
    # one table per set of shapes (the B x D sweep; group advantages' B x 1)
    groups = {}
    for fam in ["bm_triad"] + fams:
        if lin.get(fam):
            groups.setdefault(tuple(sorted({p[2] for p in lin[fam]}, key=size)), []).append(fam)
    for cols, members in groups.items():
        linearity_table(lin, cols, members)


def linearity_table(lin, cols, fams):
    if len(cols) < 2:
        return
    print()
    print("| kernel | a (us) | b (ns / element) | worst residual | " + " | ".join(cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    for fam in fams:
        pts = lin.get(fam)
        if not pts or len(pts) < 2:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        # weighted least squares on relative errors: minimise sum ((a + b x - y) / y)^2
        w = [1 / y ** 2 for y in ys]
        sw, swx, swy = sum(w), sum(wi * x for wi, x in zip(w, xs)), sum(wi * y for wi, y in zip(w, ys))
        swxx, swxy = sum(wi * x * x for wi, x in zip(w, xs)), sum(wi * x * y for wi, x, y in zip(w, xs, ys))
        det = sw * swxx - swx * swx
        slope = (sw * swxy - swx * swy) / det if det else 0.0
        icpt = (swy - slope * swx) / sw
        worst = max(abs(icpt + slope * x - y) / y for x, y in zip(xs, ys))
        per = {s: f"{y / x * 1e9:.2f}" for x, y, s in pts}
        print(f"| {fam[3:]} | {icpt * 1e6:.1f} | {slope * 1e9:.3f} | {worst * 100:.0f} % | "
              + " | ".join(per.get(c, "") for c in cols) + " |")


if __name__ == "__main__":
    main()
