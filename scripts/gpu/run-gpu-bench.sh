#!/usr/bin/env bash
# The GPU measurement of issue 6, for a machine with an NVIDIA GPU and driver (no CUDA toolkit or .NET needed):
#   1. convgrad verify --device cuda on the golden cases;
#   2. convgrad gpu-bench --device cuda on bench/conv2d-suite.csv at batch x1 and x16;
#   3. the same shapes through PyTorch/cuDNN, fp32 with TF32 off (scripts/gpu/cudnn_bench.py), when torch is there;
#   4. side-by-side markdown tables.
# Everything is written to $OUT (default out/gpu). Run from a clone, with the self-contained build made beforehand
# by scripts/gpu/publish.sh (artifacts/convgrad-linux-x64/ or its .tar.xz), or pass the convgrad executable as $1.
#   ONLY=name,name  restrict the suite;  ROUNDS / REPS  timing rounds and calls per round;  GOLDEN=DIR  other cases;
#   DEVICE=ilgpu-cpu  dry-run of the C# side on ILGPU's CPU accelerator (slow: use ONLY=seed-4x4-k2-s2 ROUNDS=1 REPS=1).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$root/out/gpu}
DEVICE=${DEVICE:-cuda}
ROUNDS=${ROUNDS:-5}
REPS=${REPS:-10}
SCALES=${SCALES:-"1 16"}
GOLDEN=${GOLDEN:-tests/data/golden}
mkdir -p "$OUT"

bin=${1:-}
if [[ -z $bin ]]; then
  if [[ -x $root/artifacts/convgrad-linux-x64/ConvGrad.Cli ]]; then
    bin=$root/artifacts/convgrad-linux-x64/ConvGrad.Cli
  elif [[ -f $root/artifacts/convgrad-linux-x64.tar.xz ]]; then
    tmp=$(mktemp -d)
    tar -C "$tmp" -xJf "$root/artifacts/convgrad-linux-x64.tar.xz"
    bin=$tmp/convgrad-linux-x64/ConvGrad.Cli
  else
    echo "run-gpu-bench.sh: no convgrad build; run scripts/gpu/publish.sh first or pass the executable" >&2
    exit 2
  fi
fi
only_arg=()
[[ -n ${ONLY:-} ]] && only_arg=(--only "$ONLY")

{ nvidia-smi || echo "nvidia-smi not available"; } > "$OUT/nvidia-smi.txt" 2>&1
cd "$root"

echo "== convgrad verify --device $DEVICE"
"$bin" verify "$GOLDEN" --device "$DEVICE" > "$OUT/verify-$DEVICE.txt" 2>&1
verify_rc=$?
tail -2 "$OUT/verify-$DEVICE.txt"

have_torch=0
if [[ $DEVICE == cuda ]] && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  have_torch=1
else
  echo "PyTorch with CUDA not available (or DEVICE=$DEVICE): only the ConvGrad side is measured" | tee "$OUT/cudnn-missing.txt"
fi

bench_rc=0
for s in $SCALES; do
  echo "== batch x$s"
  "$bin" gpu-bench --device "$DEVICE" --suite bench/conv2d-suite.csv --batch-scale "$s" --rounds "$ROUNDS" --reps "$REPS" \
    "${only_arg[@]}" --csv "$OUT/convgrad-x$s.csv" | tee "$OUT/convgrad-x$s.txt" || bench_rc=1
  if [[ $have_torch == 1 ]]; then
    python3 scripts/gpu/cudnn_bench.py --suite bench/conv2d-suite.csv --batch-scale "$s" --rounds "$ROUNDS" --reps "$REPS" \
      ${ONLY:+--only "$ONLY"} --csv "$OUT/cudnn-x$s.csv" | tee "$OUT/cudnn-x$s.txt" || bench_rc=1
    python3 scripts/gpu/side_by_side.py "$OUT/convgrad-x$s.csv" "$OUT/cudnn-x$s.csv" "batch x$s" > "$OUT/side-by-side-x$s.md"
    cat "$OUT/side-by-side-x$s.md"
  fi
done
echo "verify exit code $verify_rc, bench exit code $bench_rc; results in $OUT"
[[ $verify_rc == 0 && $bench_rc == 0 ]]
