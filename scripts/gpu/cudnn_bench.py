#!/usr/bin/env python3
"""PyTorch/cuDNN side of the GPU comparison: the conv2d suite in fp32 with TF32 off.

Times forward (F.conv2d), backward-data (torch.nn.grad.conv2d_input) and backward-weight
(torch.nn.grad.conv2d_weight) exactly like `convgrad gpu-bench`: 2 warm-up calls, then ROUNDS rounds of
REPS back-to-back calls between torch.cuda.synchronize(); the median ms per call is reported, with
GFLOP/s = 2*N*K*Ho*Wo*(C/groups)*R*S / time. Writes name,batch,pass,ms,gflops rows (the gpu-bench CSV format).
cudnn.benchmark is on (cuDNN picks its fastest algorithm per shape during warm-up), deterministic is off.
"""
import argparse
import csv
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def layers(path):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            yield {k: (v if k == "name" else int(v)) for k, v in row.items()}


def timed(fn, rounds, reps):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
        per_call.append((time.perf_counter() - start) * 1e3 / reps)
    return statistics.median(per_call)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--suite", default="bench/conv2d-suite.csv")
    ap.add_argument("--batch-scale", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma-separated layer names")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--csv", required=True)
    a = ap.parse_args()

    if not torch.cuda.is_available():
        sys.exit("cudnn_bench.py: torch sees no CUDA device")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = False
    dev = torch.device("cuda")
    only = set(a.only.split(",")) if a.only else None
    print(f"device {torch.cuda.get_device_name(0)}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"fp32, TF32 off, batch x{a.batch_scale}")
    print(f"{'layer':<18} {'N':>4} {'pass':<6} {'ms':>10} {'GFLOP/s':>9}")
    with open(a.csv, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["name", "batch", "pass", "ms", "gflops"])
        for l in layers(a.suite):
            if only and l["name"] not in only:
                continue
            n = l["N"] * a.batch_scale
            stride, pad, dil, groups = (l["stride_h"], l["stride_w"]), (l["pad_h"], l["pad_w"]), (l["dil_h"], l["dil_w"]), l["groups"]
            g = torch.Generator(device="cpu").manual_seed(1)
            x = (torch.rand(n, l["C"], l["H"], l["W"], generator=g) * 2 - 1).to(dev)
            wt = (torch.rand(l["K"], l["C"] // groups, l["R"], l["S"], generator=g) * 2 - 1).to(dev)
            b = (torch.rand(l["K"], generator=g) * 2 - 1).to(dev)
            with torch.no_grad():
                y = F.conv2d(x, wt, b, stride, pad, dil, groups)
                dy = torch.rand_like(y) * 2 - 1
                flops = 2.0 * n * l["K"] * y.shape[2] * y.shape[3] * (l["C"] // groups) * l["R"] * l["S"]
                passes = [
                    ("fwd", lambda: F.conv2d(x, wt, b, stride, pad, dil, groups)),
                    ("dx", lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy, stride, pad, dil, groups)),
                    ("dw", lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy, stride, pad, dil, groups)),
                ]
                for name, fn in passes:
                    ms = timed(fn, a.rounds, a.reps)
                    gflops = flops / (ms * 1e6)
                    print(f"{l['name']:<18} {n:>4} {name:<6} {ms:>10.3f} {gflops:>9.1f}")
                    w.writerow([l["name"], n, name, f"{ms:.4f}", f"{gflops:.2f}"])
            del x, wt, b, y, dy
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
