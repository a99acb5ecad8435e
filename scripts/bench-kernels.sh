#!/usr/bin/env bash
# Quiet-machine figures for the blocked kernels (issue 10): oneDNN side by side on the whole suite, then ConvGrad on
# both layouts with the oneDNN CSV as baseline (blocked rows) and once more against PyTorch (nchw rows).
# usage: scripts/bench-kernels.sh [OUTDIR]   (default: bench/outputs/kernels-$(date +%Y%m%d-%H%M))
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/outputs/kernels-$(date +%Y%m%d-%H%M)}
mkdir -p "$out"
cd "$root"
dotnet build src/ConvGrad.Cli -c Release -warnaserror >/dev/null
cli=src/ConvGrad.Cli/bin/Release/net10.0/ConvGrad.Cli
{ lscpu | grep 'Model name'; grep -o 'avx512[a-z]*' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; } > "$out/cpu.txt"
uptime > "$out/load.txt"
bench/onednn/run.sh --peak --threads 2 --csv "$out/onednn.csv" | tee "$out/onednn.txt"
"$cli" bench --threads 2 --layout all --baseline "$out/onednn.csv" | tee "$out/convgrad-vs-onednn.txt"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 bench/torch_conv_bench.py --threads 2 --csv "$out/torch.csv" | tee "$out/torch.txt" || true
  [ -f "$out/torch.csv" ] && "$cli" bench --threads 2 --layout nchw --baseline "$out/torch.csv" | tee "$out/convgrad-vs-torch.txt"
fi
uptime >> "$out/load.txt"
echo "written to $out"
