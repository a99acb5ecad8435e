#!/usr/bin/env python3
"""The PyTorch side of the `convgrad train` epoch timings, shared by bench/torch_lenet_epoch.py and
bench/torch_resnet_epoch.py: the model they name (docs/model.md, tests/interop/load_safetensors.py), batch 64, SGD
Nesterov momentum 0.9 + weight decay 5e-4, one-cycle, ±2 px shifts, on the first 8,000 bundled digits (or
--train-limit N of them); prints each epoch's training time, images/s and CPU time, and the held-out accuracy on the
last 2,000.
"""
import argparse
import gzip
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "interop"))
from load_safetensors import make_model, make_resnet  # noqa: E402,F401

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def load(name):
    with gzip.open(os.path.join(ROOT, "data", "mnist-10k", name), "rb") as f:
        return f.read()


def main(make, epochs, lr):
    """Trains the model make() builds; epochs and lr are the defaults of --epochs and --lr."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--train-limit", type=int, default=8000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    img = load("images-idx3-ubyte.gz")
    lab = load("labels-idx1-ubyte.gz")
    x = ((torch.frombuffer(bytearray(img[16:]), dtype=torch.uint8).float() / 255 - 0.1307) / 0.3081).reshape(-1, 1, 28, 28)
    y = torch.frombuffer(bytearray(lab[8:]), dtype=torch.uint8).long()
    n = min(args.train_limit, 8000)
    xtr, ytr, xte, yte = x[:n], y[:n], x[8000:], y[8000:]
    bg = (0 - 0.1307) / 0.3081
    model = make()
    steps = args.epochs * ((n + args.batch_size - 1) // args.batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.25)
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        c0 = time.process_time()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb = F.pad(xtr[idx], (2, 2, 2, 2), value=bg)
            dr = torch.randint(0, 5, (len(idx),))
            dc = torch.randint(0, 5, (len(idx),))
            xb = torch.stack([xb[j, :, dr[j]:dr[j] + 28, dc[j]:dc[j] + 28] for j in range(len(idx))])
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch}/{args.epochs}  train loss {total / n:.4f}  held-out accuracy {100 * acc:.2f}%  "
              f"{dt:.1f} s  {n / dt:.0f} images/s  (cpu {cpu:.1f} s; {args.threads} threads, torch {torch.__version__})", flush=True)

