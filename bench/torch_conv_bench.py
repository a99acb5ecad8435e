#!/usr/bin/env python3
"""PyTorch side of `convgrad bench`: times forward, backward-data and backward-weight (fp32, NCHW, CPU) on every row
of the conv2d suite (and each strided row's stride-1 twin, NAME-s1, as convgrad bench does) and writes the CSV of
`convgrad bench --format csv` (name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes; isa = pytorch), which
`convgrad bench --baseline FILE` reads. Each pass: warm-up for 0.2 s, then calls until --min-time seconds (at least
3); the median call is reported. Backward passes call aten's convolution_backward for one gradient at a time.

usage: /usr/bin/python3 bench/torch_conv_bench.py [--threads 2] [--suite bench/conv2d-suite.csv] [--only NAME[,NAME...]]
                                                  [--min-time 0.5] [--csv OUT.csv]
Needs PyTorch (Debian: apt-get install -y python3-torch).
"""
import argparse
import csv
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def layers(path, only):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            layer = {k: (v if k == "name" else int(v)) for k, v in row.items()}
            strided = layer["stride_h"] > 1 or layer["stride_w"] > 1
            rows = [layer] + ([dict(layer, name=layer["name"] + "-s1", stride_h=1, stride_w=1)] if strided else [])
            for r in rows:
                if only is None or r["name"] in only or (r["name"].endswith("-s1") and r["name"][:-3] in only):
                    yield r


def median_seconds(call, min_time):
    start = time.perf_counter()
    warm = 0
    while warm < 3 or time.perf_counter() - start < 0.2:
        call()
        warm += 1
    samples, total = [], 0.0
    while total < min_time or len(samples) < 3:
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        samples.append(dt)
        total += dt
    samples.sort()
    return samples[len(samples) // 2]


def time_layer(r, min_time):
    g = r["groups"]
    x = torch.rand(r["N"], r["C"], r["H"], r["W"]) * 2 - 1
    w = torch.rand(r["K"], r["C"] // g, r["R"], r["S"]) * 2 - 1
    stride, pad, dil = (r["stride_h"], r["stride_w"]), (r["pad_h"], r["pad_w"]), (r["dil_h"], r["dil_w"])
    with torch.no_grad():
        y = F.conv2d(x, w, None, stride, pad, dil, g)
        dy = torch.rand_like(y) * 2 - 1
        flops = 2.0 * y.numel() * (r["C"] // g) * r["R"] * r["S"]

        def backward(mask):
            return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, stride, pad, dil, False, (0, 0), g, mask)

        calls = {
            "fwd": lambda: F.conv2d(x, w, None, stride, pad, dil, g),
            "dx": backward([True, False, False]),
            "dw": backward([False, True, False]),
        }
        return flops, {p: median_seconds(c, min_time) * 1e3 for p, c in calls.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--suite", default=os.path.join(HERE, "conv2d-suite.csv"))
    ap.add_argument("--only", default=None)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--csv", default=None, help="write the CSV here (default: standard output)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    only = set(a.only.split(",")) if a.only else None
    out = open(a.csv, "w", newline="") if a.csv else sys.stdout
    kernel = f"torch {torch.__version__}" + (" mkldnn" if torch.backends.mkldnn.is_available() else "")
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), NCHW fp32, median of calls over >= {a.min_time} s", file=sys.stderr)
    out.write("name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes\n")
    for r in layers(a.suite, only):
        flops, ms = time_layer(r, a.min_time)
        for p in ("fwd", "dx", "dw"):
            out.write(f"{r['name']},{p},nchw,pytorch,{kernel},{ms[p]:.6f},{flops / (ms[p] * 1e-3) / 1e9:.3f},,0\n")
            out.flush()
            print(f"{r['name']:20s} {p:3s} {ms[p]:10.4f} ms {flops / (ms[p] * 1e-3) / 1e9:8.1f} GFLOP/s", file=sys.stderr)
    if a.csv:
        out.close()


if __name__ == "__main__":
    main()
