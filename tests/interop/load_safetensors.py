#!/usr/bin/env python3
"""ConvGrad <-> PyTorch interop check for the `convgrad train` models, LeNet and ResNet (docs/model.md).

Needs only python3-torch (no safetensors package): the safetensors format is read and written directly
(8-byte little-endian header length, JSON header, raw little-endian data).

For each model (--arch lenet, resnet or all, the default):
1. ConvGrad -> PyTorch: trains a small ConvGrad model (or takes --model FILE), loads it into the documented
   PyTorch twin with load_state_dict(strict=True), and compares PyTorch's class probabilities on the 2,000
   held-out bundled digits with those printed by `convgrad predict`.
2. PyTorch -> ConvGrad: saves a freshly initialised PyTorch model (for the ResNet with random batch-norm
   statistics) in safetensors and checks that `convgrad predict` gives the same probabilities.

Exit code 0 when every predicted digit agrees and probabilities agree within 1e-4.

usage (from the repository root, after `dotnet build ConvGrad.slnx -c Release`):
    python3 tests/interop/load_safetensors.py
"""
import argparse
import gzip
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGES = os.path.join(ROOT, "data", "mnist-10k", "images-idx3-ubyte.gz")
MEAN, STD = 0.1307, 0.3081
DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def make_model() -> nn.Sequential:
    """The PyTorch twin of ConvGrad's LeNet (src/ConvGrad/Nn/LeNet.cs, docs/model.md)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: the twin of src/ConvGrad/Nn/BasicBlock.cs."""

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
    """The PyTorch twin of ConvGrad's ResNet (src/ConvGrad/Nn/ResNet.cs, docs/model.md)."""

    def __init__(self, widths=(16, 32, 64), blocks=2):
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


def make_resnet() -> ResNet:
    return ResNet()


MODELS = {"lenet": make_model, "resnet": make_resnet}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} does not fit the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[e["dtype"]]) if end > begin \
            else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, state):
    header, chunks, offset = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def load_digits(first, count):
    with gzip.open(IMAGES, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 0x803 and rows == 28 and cols == 28, "unexpected IDX header"
    px = torch.frombuffer(bytearray(raw[16 + first * 784:16 + (first + count) * 784]), dtype=torch.uint8)
    return ((px.float() / 255 - MEAN) / STD).reshape(count, 1, 28, 28)


# predict prints "image I: class C  true T  probabilities 0:p0 ... 9:p9" (true T only where labels are known).
LINE = re.compile(r"^image (\d+): class (\d)(?:  true \d)?  probabilities((?: \d:[0-9.]+){10})$")


def convgrad_predict(cmd, model, first, count):
    out = subprocess.run(cmd + ["predict", "--model", model, "--idx", IMAGES, "--index", str(first),
                                "--count", str(count), "--threads", "2"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    probs, digits = [], []
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            digits.append(int(m.group(2)))
            probs.append([float(p.split(":")[1]) for p in m.group(3).split()])
    if len(probs) != count:
        raise SystemExit(f"convgrad predict printed {len(probs)} results, expected {count}:\n{out}")
    return torch.tensor(probs, dtype=torch.float64), digits


def compare(label, model, state_file, cmd, first, count):
    model.eval()
    with torch.no_grad():
        p_torch = torch.softmax(model(load_digits(first, count)).double(), dim=1)
    p_cg, d_cg = convgrad_predict(cmd, state_file, first, count)
    diff = (p_torch - p_cg).abs().max().item()
    top2 = p_torch.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4  # digits are compared where the top class is not a near tie
    d_torch = p_torch.argmax(dim=1)
    mismatches = [(first + i, int(d_torch[i]), d_cg[i]) for i in range(count) if clear[i] and int(d_torch[i]) != d_cg[i]]
    ok = diff <= 1e-4 and not mismatches
    print(f"{label}: {count} digits, max |p_torch - p_convgrad| = {diff:.2e}, "
          f"digit mismatches {len(mismatches)} -> {'OK' if ok else 'FAIL'}")
    for m in mismatches[:5]:
        print(f"  image {m[0]}: torch {m[1]}, convgrad {m[2]}")
    return ok


def check(arch, args, cmd, first, tmp):
    model_file = args.model
    if model_file is None:
        limit = "2000" if arch == "lenet" else "500"
        subprocess.run(cmd + ["train", "--model", arch, "--epochs", "1", "--train-limit", limit, "--threads", "2", "--out", tmp],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        model_file = os.path.join(tmp, f"{arch}.safetensors")

    # ConvGrad -> PyTorch
    theirs = MODELS[arch]()
    theirs.load_state_dict(read_safetensors(model_file), strict=True)
    ok1 = compare(f"{arch}: ConvGrad -> PyTorch", theirs, model_file, cmd, first, args.count)

    # PyTorch -> ConvGrad
    torch.manual_seed(0)
    ours = MODELS[arch]()
    for m in ours.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so evaluation mode is really exercised
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    torch_file = os.path.join(tmp, f"{arch}-from-torch.safetensors")
    write_safetensors(torch_file, ours.state_dict())
    ok2 = compare(f"{arch}: PyTorch -> ConvGrad", ours, torch_file, cmd, first, args.count)
    return ok1 and ok2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["lenet", "resnet", "all"], default="all", help="which model (default: all)")
    ap.add_argument("--model", help="a ConvGrad-trained safetensors file of --arch (default: train one quickly)")
    ap.add_argument("--convgrad", default="dotnet run --project src/ConvGrad.Cli -c Release --no-build --",
                    help="command that runs convgrad (default: %(default)s)")
    ap.add_argument("--count", type=int, default=2000, help="held-out digits to compare (default 2000)")
    args = ap.parse_args()
    if args.model and args.arch == "all":
        ap.error("--model needs --arch lenet or --arch resnet")
    torch.set_num_threads(2)
    cmd = shlex.split(args.convgrad)
    first = 10000 - args.count
    archs = ["lenet", "resnet"] if args.arch == "all" else [args.arch]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            ok = check(arch, args, cmd, first, tmp) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
