#!/usr/bin/env bash
# Builds (once, into $TMPDIR) and runs ConvGrad's oneDNN side-by-side harness on the conv2d suite: forward,
# backward-data and backward-weight in fp32, oneDNN in its own blocked layouts with the reorders outside the timed
# region. Writes the CSV that `convgrad bench --baseline FILE` reads.
#
# usage: bench/onednn/run.sh [--threads N] [--suite FILE] [--csv OUT.csv] [--only NAME[,NAME...]] [--min-time SECONDS] [--peak]
#   --threads   OpenMP threads for oneDNN (default 2, as convgrad bench compares on 2 cores)
#   --suite     the suite CSV (default bench/conv2d-suite.csv; e.g. bench/resnet-mnist-suite.csv, the ResNet's own layers)
#   --peak      first print the machine's fp32 FMA peak (256- and 512-bit), the method convgrad bench uses
# Needs g++ and Debian's libdnnl-dev (oneDNN 2.x): sudo apt-get install -y g++ libdnnl-dev
# The build uses -march=native, so oneDNN's own dispatch and the peak use AVX-512 where the CPU has it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
threads=2
peak=0
suite=$here/../conv2d-suite.csv
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --peak) peak=1; shift ;;
    --suite) suite=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ] || ! command -v g++ >/dev/null; then
  echo "run.sh: needs g++ and libdnnl-dev (apt-get install -y g++ libdnnl-dev)" >&2
  exit 2
fi
out=${TMPDIR:-/tmp}/convgrad-onednn-$(id -u)
mkdir -p "$out"
build() { # build NAME [libs...]: recompiles when the source is newer than the binary
  local name=$1; shift
  if [ ! -x "$out/$name" ] || [ "$here/$name.cpp" -nt "$out/$name" ]; then
    g++ -O2 -march=native -fopenmp -o "$out/$name" "$here/$name.cpp" "$@"
  fi
}
build conv_onednn -ldnnl
if [ "$peak" -eq 1 ]; then
  build peak
  OMP_NUM_THREADS=$threads "$out/peak"
fi
OMP_NUM_THREADS=$threads "$out/conv_onednn" "$suite" "${args[@]+"${args[@]}"}"
