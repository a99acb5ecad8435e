#!/usr/bin/env python3
"""Joins convgrad gpu-bench and cudnn_bench.py CSVs (name,batch,pass,ms,gflops) into one markdown table:
per layer and pass, both times, both GFLOP/s and ConvGrad's throughput as % of cuDNN (the target is >= 50%
at batch x16). Usage: side_by_side.py CONVGRAD.csv CUDNN.csv [TITLE]"""
import csv
import sys


def load(path):
    with open(path, newline="") as f:
        return {(r["name"], int(r["batch"]), r["pass"]): r for r in csv.DictReader(f)}


def main():
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    title = sys.argv[3] if len(sys.argv) > 3 else ""
    if title:
        print(f"### {title}\n")
    print("| layer | N | pass | ConvGrad ms | cuDNN ms | ConvGrad GFLOP/s | cuDNN GFLOP/s | ConvGrad / cuDNN |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    ratios = {}
    for key, o in ours.items():
        t = theirs.get(key)
        name, n, p = key
        if t is None:
            print(f"| {name} | {n} | {p} | {float(o['ms']):.3f} | – | {float(o['gflops']):.1f} | – | – |")
            continue
        ratio = float(t["ms"]) / float(o["ms"])
        ratios.setdefault(p, []).append(ratio)
        print(f"| {name} | {n} | {p} | {float(o['ms']):.3f} | {float(t['ms']):.3f} | {float(o['gflops']):.1f} | "
              f"{float(t['gflops']):.1f} | {100 * ratio:.0f}% |")
    for p, rs in ratios.items():
        geo = 1.0
        for r in rs:
            geo *= r
        geo **= 1.0 / len(rs)
        print(f"\n{p}: geometric mean ConvGrad/cuDNN = {100 * geo:.0f}%, worst {100 * min(rs):.0f}%, layers below 50%: {sum(r < 0.5 for r in rs)} of {len(rs)}")


if __name__ == "__main__":
    main()
