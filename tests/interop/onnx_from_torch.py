#!/usr/bin/env python3
"""Conv nets exported by PyTorch to ONNX, with PyTorch's class probabilities, for ConvGrad's importer tests.

Needs only python3-torch (torch.onnx.export; the onnx package is not used).

usage: onnx_from_torch.py IMAGES OUT_DIR
  IMAGES   raw little-endian float32 [N, 1, 28, 28] (normalised digits)
  OUT_DIR  receives, for each model, operator set (13-17) and batch form (fixed/dynamic):
             NAME.onnx   the exported model (evaluation mode: batch norm folded into the convolutions, as
                         torch.onnx.export does by default; the "-unfolded" ResNets keep every BatchNormalization)
             NAME.probs  raw float32 [N, 10]: softmax of PyTorch's logits for IMAGES
           NAME is MODEL-opsetK-fixed or MODEL-opsetK-dynamic. A fixed-batch export is traced with 4 images.

The models cover what torch.onnx.export emits for conv nets: Conv (with batch norm folded in), BatchNormalization
that follows no convolution, Relu, MaxPool, AveragePool with padding (Pad + AveragePool), GlobalAveragePool,
ReduceMean, Flatten, Reshape from x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat), Gemm, MatMul + Add,
residual Add, Concat, and initializers deduplicated through Identity. The BatchNormalization that follows a convolution
comes from exporting the ResNet with training=TrainingMode.PRESERVE (in evaluation mode).
"""
import io
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")


def lenet():
    # ConvGrad's LeNet (src/ConvGrad/Nn/LeNet.cs, LeNet.PyTorchDefinition).
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    # ConvGrad's ResNet twin (src/ConvGrad/Nn/ResNet.cs, ResNet<T>.PyTorchDefinition), 1 block per stage to stay quick.
    def __init__(self, widths=(8, 16, 32), blocks=1):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin, stages = widths[0], []
        for s, w in enumerate(widths):
            layer = []
            for b in range(blocks):
                layer.append(BasicBlock(cin, w, 2 if b == 0 and s > 0 else 1))
                cin = w
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(widths[2], 10)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


class Branches(nn.Module):
    """Branches and the other forms: concat, a batch norm after concat, pad + average pooling, view, mean, MatMul."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=(2, 1), dilation=(2, 1), bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.side = nn.Conv2d(8, 4, 1, groups=4)
        self.bn3 = nn.BatchNorm2d(12)
        self.fc = nn.Linear(12 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 10)
        self.head = nn.Linear(12, 10, bias=False)

    def forward(self, x):
        h = F.relu(self.bn1(self.c1(x)))
        h = F.relu(self.bn2(self.c2(h)) + h)
        h = F.max_pool2d(h, 2)
        h = torch.cat([h, self.side(h)], 1)
        h = F.relu(self.bn3(h))
        mean = h.mean((2, 3))
        pooled = F.avg_pool2d(h, 2, padding=1)
        flat = pooled.view(pooled.size(0), -1)
        return self.fc2(F.relu(self.fc(flat))) + self.head(mean)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model.eval()


def main():
    images_path, out = sys.argv[1], sys.argv[2]
    data = torch.frombuffer(bytearray(open(images_path, "rb").read()), dtype=torch.float32)
    x = data.reshape(-1, 1, 28, 28)
    torch.manual_seed(1)
    models = {"lenet": randomise(lenet(), 2), "resnet": randomise(ResNet(), 3), "branches": randomise(Branches(), 4)}
    for name, model in models.items():
        with torch.no_grad():
            probs = F.softmax(model(x), dim=1).contiguous()
        for opset in range(13, 18):
            for dynamic in (False, True):
                variants = [("", True)] + ([("-unfolded", False)] if name == "resnet" and opset in (13, 17) else [])
                for suffix, fold in variants:
                    stem = f"{name}{suffix}-opset{opset}-{'dynamic' if dynamic else 'fixed'}"
                    buf = io.BytesIO()
                    # PRESERVE on a model in evaluation mode keeps each BatchNormalization (EVAL folds it into the conv).
                    torch.onnx.export(model, x[:4], buf, opset_version=opset, input_names=["input"], output_names=["logits"],
                                      training=torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE,
                                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None)
                    with open(os.path.join(out, stem + ".onnx"), "wb") as f:
                        f.write(buf.getvalue())
                    with open(os.path.join(out, stem + ".probs"), "wb") as f:
                        f.write(probs.numpy().astype("<f4").tobytes())


if __name__ == "__main__":
    main()
