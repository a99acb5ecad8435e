#!/usr/bin/env python3
"""PyTorch side of the ResNet gradient-parity test (tests/ConvGrad.Tests/ResNetParityTests.cs).

Loads ConvGrad's ResNet weights into the PyTorch twin (load_state_dict(strict=True)), runs one training-mode
forward pass on the given batch, the mean cross-entropy loss and loss.backward() in the weights' dtype, and writes
the loss ("loss"), the logits ("logits") and every parameter gradient (under its state_dict name) to a
safetensors file.

usage: python3 tests/interop/resnet_grad_parity.py WEIGHTS BATCH OUT
   WEIGHTS  safetensors state dict of the ResNet (F32 or F64)
   BATCH    safetensors with "x" [N, 1, 28, 28] and "labels" [N] (same dtype as the weights)
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from load_safetensors import ResNet, read_safetensors, write_safetensors  # noqa: E402


def main():
    weights, batch, out = sys.argv[1:4]
    torch.set_num_threads(1)
    state = read_safetensors(weights)
    dtype = state["conv1.weight"].dtype
    widths = (state["layer1.0.conv1.weight"].shape[0], state["layer2.0.conv1.weight"].shape[0],
              state["layer3.0.conv1.weight"].shape[0])
    blocks = sum(1 for k in state if k.startswith("layer1.") and k.endswith(".conv1.weight"))
    model = ResNet(widths, blocks).to(dtype)
    model.load_state_dict(state, strict=True)
    model.train()
    b = read_safetensors(batch)
    logits = model(b["x"].to(dtype))
    loss = F.cross_entropy(logits, b["labels"].long())
    loss.backward()
    result = {"loss": loss.detach().reshape(1), "logits": logits.detach()}
    for name, p in model.named_parameters():
        result[name] = p.grad
    write_safetensors(out, result)


if __name__ == "__main__":
    main()
