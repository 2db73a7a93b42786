#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The reference DiffusionNFT loss (shared/ALGORITHM.md section 2) in eager PyTorch, with autograd
for the gradient, written as the reference implementation writes it; data files shared with
dnft_nft_cli; a timing worker.

    nft_torch.py time --dir DIR --shape B,C,H,W [--threads N ...] [--reps R] [--warmup W]

prints one JSON object: for each thread count, per-repetition wall and process-CPU milliseconds of
the forward pass alone (under torch.no_grad()) and of `loss = nft_loss(...); loss.backward()` with a
fresh leaf v_theta each time. compare.py is the driver; run it rather than this file.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

ADV_MODES = ("all", "positive_only", "negative_only", "one_only", "binary")


def nft_loss(x0, eps, t, adv, v_theta, v_old, v_ref=None, *, beta=1.0, adv_clip_max=5.0, kl_weight=1e-4,
             weight_floor=1e-5, adv_mode="all"):
    """The DiffusionNFT loss of one batch, eagerly, one tensor operation at a time.

    x0, eps, v_theta, v_old, v_ref: (B, ...) tensors; t, adv: (B,) tensors. v_theta may require
    grad; v_old and v_ref are treated as constants. v_ref None: no KL term. The adaptive weights
    are computed in float64 without gradient, as the reference code does; dividing the float32
    squared errors by them makes the branch losses (and the loss) float64, as in the reference.
    Returns (loss, policy_loss, kl) with kl a tensor of 0 when v_ref is None.
    """
    dims = tuple(range(1, x0.ndim))
    tt = t.view(-1, *([1] * (x0.ndim - 1)))
    x_t = (1 - tt) * x0 + tt * eps

    C = adv_clip_max
    a = torch.clamp(adv, -C, C)
    if adv_mode == "positive_only":
        a = torch.clamp(a, 0, C)
    elif adv_mode == "negative_only":
        a = torch.clamp(a, -C, 0)
    elif adv_mode == "one_only":
        a = torch.where(a > 0, torch.ones_like(a), torch.zeros_like(a))
    elif adv_mode == "binary":
        a = torch.sign(a)
    elif adv_mode != "all":
        raise ValueError(f"nft_loss: adv_mode: unknown mode {adv_mode!r}")
    r = torch.clamp(a / C / 2.0 + 0.5, 0, 1)

    v_old = v_old.detach()
    v_pos = beta * v_theta + (1 - beta) * v_old              # implicit positive policy
    v_neg = (1.0 + beta) * v_old - beta * v_theta            # implicit negative policy
    x0_pos = x_t - tt * v_pos
    x0_neg = x_t - tt * v_neg
    with torch.no_grad():
        w_pos = torch.abs(x0_pos.double() - x0.double()).mean(dim=dims, keepdim=True).clip(min=weight_floor)
        w_neg = torch.abs(x0_neg.double() - x0.double()).mean(dim=dims, keepdim=True).clip(min=weight_floor)
    l_pos = ((x0_pos - x0) ** 2 / w_pos).mean(dim=dims)
    l_neg = ((x0_neg - x0) ** 2 / w_neg).mean(dim=dims)
    ori_policy_loss = r * l_pos / beta + (1.0 - r) * l_neg / beta
    policy_loss = (ori_policy_loss * C).mean()
    loss = policy_loss
    if v_ref is not None:
        kl = ((v_theta - v_ref.detach()) ** 2).mean(dim=dims).mean()
        loss = loss + kl_weight * kl
    else:
        kl = torch.zeros((), dtype=loss.dtype)
    return loss, policy_loss, kl


# ---- data shared with dnft_nft_cli ---------------------------------------------------------------

TENSORS = ("x0", "eps", "v_theta", "v_old", "v_ref")


def make_data(shape, seed):
    """Deterministic float32 inputs of the given (B, ...) shape: x0, eps ~ N(0, 1); each velocity is
    the flow-matching target u = eps - x0 plus 0.3 N(0, 1); t ~ U(0, 1); adv ~ N(0, 2) (some clipped)."""
    g = torch.Generator().manual_seed(seed)
    d = {"x0": torch.randn(shape, generator=g), "eps": torch.randn(shape, generator=g)}
    u = d["eps"] - d["x0"]
    for name in ("v_theta", "v_old", "v_ref"):
        d[name] = u + 0.3 * torch.randn(shape, generator=g)
    d["t"] = torch.rand(shape[0], generator=g)
    d["adv"] = 2.0 * torch.randn(shape[0], generator=g)
    return d


def save_data(d, directory):
    """Writes the tensors as raw native-order files: float32 (B, D) tensors, and t, adv as float64
    (exact copies of the float32 values, which dnft takes as double)."""
    for name in TENSORS:
        d[name].contiguous().numpy().tofile(os.path.join(directory, name + ".f32"))
    for name in ("t", "adv"):
        d[name].double().numpy().tofile(os.path.join(directory, name + ".f64"))


def load_data(directory, shape):
    d = {}
    for name in TENSORS:
        d[name] = torch.from_numpy(np.fromfile(os.path.join(directory, name + ".f32"), dtype=np.float32)) \
            .reshape(shape).clone()  # clone: PyTorch's own (64-byte aligned) allocation
    for name in ("t", "adv"):
        d[name] = torch.from_numpy(np.fromfile(os.path.join(directory, name + ".f64"), dtype=np.float64)).float()
    return d


# ---- timing ----------------------------------------------------------------------------------

def time_calls(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        w1, c1 = time.perf_counter(), time.process_time()
        wall.append(1e3 * (w1 - w0))
        cpu.append(1e3 * (c1 - c0))
    return {"wall_ms": wall, "cpu_ms": cpu}


def time_torch(d, threads, reps, warmup):
    torch.set_num_threads(threads)
    args = (d["x0"], d["eps"], d["t"], d["adv"])
    out = {"threads": torch.get_num_threads()}

    def forward():
        with torch.no_grad():
            return nft_loss(*args, d["v_theta"], d["v_old"], d["v_ref"])[0].item()

    def forward_backward():
        vt = d["v_theta"].detach().requires_grad_(True)  # a fresh leaf: its .grad is allocated anew
        loss = nft_loss(*args, vt, d["v_old"], d["v_ref"])[0]
        loss.backward()
        return loss.item()

    out["fwd"] = time_calls(forward, reps, warmup)
    out["fwd"]["loss"] = forward()
    out["grad"] = time_calls(forward_backward, reps, warmup)
    out["grad"]["loss"] = forward_backward()
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("time", help="time the eager loss and loss + backward on the data in --dir")
    tp.add_argument("--dir", required=True)
    tp.add_argument("--shape", required=True, help="B,C,H,W (or any B,...)")
    tp.add_argument("--threads", type=int, nargs="+", default=[1])
    tp.add_argument("--reps", type=int, default=5)
    tp.add_argument("--warmup", type=int, default=2)
    a = p.parse_args(argv)
    shape = tuple(int(s) for s in a.shape.split(","))
    d = load_data(a.dir, shape)
    res = {"torch": torch.__version__, "shape": list(shape),
           "runs": [time_torch(d, n, a.reps, a.warmup) for n in a.threads]}
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1:])
