#!/usr/bin/env python3
"""PyTorch side of the `convgrad train --model resnet` timing: the same ResNet (docs/model.md,
tests/interop/load_safetensors.py), batch 64, SGD Nesterov momentum 0.9 + weight decay 5e-4, one-cycle (peak 0.1),
±2 px shifts, on the first 8,000 bundled digits (or --train-limit N of them); prints each epoch's training time,
images/s and CPU time, and the held-out accuracy on the last 2,000.

usage: python3 bench/torch_resnet_epoch.py [--epochs N] [--threads 2] [--train-limit N]
"""
from torch_epoch import main, make_resnet

if __name__ == "__main__":
    main(make_resnet, epochs=15, lr=0.1)
