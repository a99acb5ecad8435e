#!/usr/bin/env python3
"""PyTorch side of the `convgrad train` timing: the same model (docs/model.md), batch 64, SGD Nesterov
momentum 0.9 + weight decay 5e-4, one-cycle, ±2 px shifts, on the first 8,000 bundled digits; prints each
epoch's training time and images/s and the held-out accuracy on the last 2,000.

usage: python3 bench/torch_lenet_epoch.py [--epochs N] [--threads 2] [--train-limit N]
"""
from torch_epoch import main, make_model

if __name__ == "__main__":
    main(make_model, epochs=8, lr=0.05)
