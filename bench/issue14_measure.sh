#!/usr/bin/env bash
# Issue 14's figures on a quiet machine, in one go (about 20-25 min on 2 idle cores):
#   1. held-out accuracy, wall and CPU time of the default LeNet run and of the ResNet run, seeds 1-3
#      (/usr/bin/time: user+sys is the CPU time; wall is only meaningful when nothing else runs);
#   2. the autograd's own share of a training step (train --autograd-overhead N, after training);
#   3. LeNet before the autograd (commit 340b91e, built from `git archive` in a temporary folder) for the speed
#      and accuracy comparison;
#   4. PyTorch's epoch time for the same LeNet and ResNet (Debian python3-torch, 2 threads).
# usage: bench/issue14_measure.sh [OUT_FILE]   (default bench/issue14-figures.txt; the runs write under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/issue14-figures.txt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dotnet build src/ConvGrad.Cli -c Release -o "$tmp/now" > "$tmp/build.log"
exec > >(tee "$out") 2>&1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%U %S %e" -o "$tmp/time" "$@" > "$tmp/log" 2>&1 || { cat "$tmp/log"; return 1; }
  read -r user sys wall < "$tmp/time"
  local acc overhead
  acc=$(grep -o 'held-out accuracy: [0-9.]*%' "$tmp/log" | tail -1 | cut -d' ' -f3)
  overhead=$(grep -o 'recording .* of the step' "$tmp/log" || true)
  printf '%-22s %8s  wall %7.1f s  cpu %7.1f s  %s\n' "$label" "$acc" "$wall" "$(echo "$user + $sys" | bc)" "$overhead"
  grep -E '^epoch |mean epoch time' "$tmp/log" | sed 's/^/    /'
}

echo "== ConvGrad now ($(git rev-parse --short HEAD))"
for s in 1 2 3; do run "lenet seed $s" dotnet "$tmp/now/ConvGrad.Cli.dll" train --model lenet --seed "$s" --out "$tmp/l$s" --autograd-overhead 50; done
for s in 1 2 3; do run "resnet seed $s" dotnet "$tmp/now/ConvGrad.Cli.dll" train --model resnet --seed "$s" --out "$tmp/r$s" --autograd-overhead 20; done

echo "== LeNet before the autograd (340b91e)"
mkdir -p "$tmp/pre" && git archive 340b91e | tar -x -C "$tmp/pre"
dotnet build "$tmp/pre/src/ConvGrad.Cli" -c Release -o "$tmp/prebin" > "$tmp/build-pre.log"
for s in 1 2 3; do run "lenet@340b91e seed $s" dotnet "$tmp/prebin/ConvGrad.Cli.dll" train --seed "$s" --out "$tmp/p$s"; done

echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), 2 threads, 1 epoch each"
/usr/bin/time -f "cpu %U+%S s wall %e s" /usr/bin/python3 bench/torch_lenet_epoch.py --epochs 1 --threads 2
/usr/bin/time -f "cpu %U+%S s wall %e s" /usr/bin/python3 bench/torch_resnet_epoch.py --epochs 1 --threads 2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
