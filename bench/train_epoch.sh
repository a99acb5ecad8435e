#!/usr/bin/env bash
# Training epoch speed: `convgrad train` (activations channel-blocked between layers) against the same model, recipe
# and data in PyTorch (bench/torch_lenet_epoch.py, bench/torch_resnet_epoch.py), with the same thread count, on the
# bundled 8,000 training digits. Each side runs 2 epochs and the LAST epoch's images/s is compared (the first includes
# JIT / allocator warm-up). Run it on a quiet machine; the lead's figures come from this script.
#
# usage: bench/train_epoch.sh [THREADS (default 2)] [EPOCHS (default 2)]
# prints one line per model: convgrad images/s, torch images/s, and the speed-up (target >= 2.0).
# To compare with another commit, run the script from that commit's worktree as well.
set -euo pipefail
threads=${1:-2}
epochs=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
cli="$root/out/bench-train-cli"
dotnet build "$root/src/ConvGrad.Cli" -c Release -o "$cli" -v quiet -nologo >/dev/null
lscpu | grep -m1 'Model name' || true
uptime
last_rate() { grep -E '^epoch [0-9]+/' | tail -1 | grep -oE '[0-9.]+ images/s' | grep -oE '^[0-9.]+'; }
for model in lenet resnet; do
    # Each run's log goes to stderr in one piece after it ends (not through `tee /dev/stderr`: with stderr redirected to a
    # file, tee reopens that file and truncates it, so `train_epoch.sh > log 2>&1` kept only the last lines).
    ours_log=$("$cli/ConvGrad.Cli" train --model "$model" --epochs "$epochs" --threads "$threads" --data "$root/data/mnist-10k" --out "$root/out/bench-train-$model")
    printf '%s\n' "$ours_log" >&2
    ours=$(printf '%s\n' "$ours_log" | last_rate)
    theirs_log=$(/usr/bin/python3 "$root/bench/torch_${model}_epoch.py" --epochs "$epochs" --threads "$threads")
    printf '%s\n' "$theirs_log" >&2
    theirs=$(printf '%s\n' "$theirs_log" | last_rate)
    awk -v m="$model" -v a="$ours" -v b="$theirs" -v t="$threads" \
        'BEGIN { printf "%s, %s threads: convgrad %s images/s, pytorch %s images/s, speed-up %.2fx\n", m, t, a, b, a / b }'
done
uptime
