#!/usr/bin/env bash
# Data-parallel scaling of `convgrad train` (issue 11): 1 rank x 1 thread vs 2 ranks x 1 thread at the same global
# batch, over shared memory and over TCP, plus the overlap share of the gradient all-reduce. Run it on a QUIET
# machine (nothing else running); it prints the load average so the table says how quiet it was.
#
#   scripts/mpi-scaling.sh                 # 3 repetitions, 4096 digits x 2 epochs, batch 64
#   REPS=5 LIMIT=8000 EPOCHS=2 scripts/mpi-scaling.sh
#
# images/s is training throughput (the log's "mean epoch time" line: forward, backward, all-reduce and optimiser
# steps; evaluation excluded), rank 0's wall time, median over REPS. "hidden" is the share of all-reduce time that
# backward hid (OverlapStats, rank 0). Needs: dotnet, Open MPI (mpirun, libmpi.so.40).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
LIMIT=${LIMIT:-4096}
EPOCHS=${EPOCHS:-2}
BATCH=${BATCH:-64}
MPIRUN=(mpirun -np 2 --bind-to core)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
[ "$(nproc)" -lt 2 ] && MPIRUN+=(--oversubscribe)

dotnet build src/ConvGrad.Cli -c Release -v q -nologo >/dev/null
CLI=src/ConvGrad.Cli/bin/Release/net10.0/ConvGrad.Cli.dll
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ARGS=(train --model lenet --train-limit "$LIMIT" --epochs "$EPOCHS" --batch-size "$BATCH" --threads 1)

# run NAME CMD...: REPS runs; collects images/s and the hidden share from rank 0's log.
declare -A RATE HIDDEN WAIT
run() {
  local name=$1; shift
  local rates=() hidden="" wait=""
  for ((i = 0; i < REPS; i++)); do
    local log="$OUT/$name.$i.log"
    "$@" --out "$OUT/$name" >"$log" 2>&1 || { echo "$name failed:"; tail -5 "$log"; exit 1; }
    rates+=("$(sed -n 's/^mean epoch time .*(\([0-9]*\) images\/s.*/\1/p' "$log")")
    hidden=$(sed -n 's/^gradient all-reduce: .*, \([0-9.]*\)% hidden$/\1/p' "$log")
    wait=$(sed -n 's/^gradient all-reduce: .* and \([0-9.]*\) ms waited.*/\1/p' "$log")
  done
  RATE[$name]=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  HIDDEN[$name]=${hidden:--}
  WAIT[$name]=${wait:--}
  echo "  $name: ${rates[*]} images/s" >&2
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $REPS repetitions" >&2
run one dotnet "$CLI" "${ARGS[@]}"
run shm "${MPIRUN[@]}" dotnet "$CLI" "${ARGS[@]}" --distributed
run tcp "${MPIRUN[@]}" --mca btl tcp,self --mca btl_tcp_if_include lo dotnet "$CLI" "${ARGS[@]}" --distributed
run shm1 "${MPIRUN[@]}" dotnet "$CLI" "${ARGS[@]}" --distributed --bucket-bytes 26214400
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

base=${RATE[one]}
echo
echo "train --train-limit $LIMIT --epochs $EPOCHS --batch-size $BATCH --threads 1 (global batch $BATCH), median of $REPS, load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| run | images/s | vs 1 rank | all-reduce waited ms/step | hidden |"
echo "|---|---|---|---|---|"
row() { printf '| %s | %s | %s | %s | %s |\n' "$1" "${RATE[$2]}" "$(awk -v a="${RATE[$2]}" -v b="$base" 'BEGIN {printf "%.2fx", a / b}')" "${WAIT[$2]}" "$([ "${HIDDEN[$2]}" = - ] && echo - || echo "${HIDDEN[$2]}%")"; }
row "1 rank x 1 thread" one
row "2 ranks x 1 thread, shared memory, 64 KiB buckets" shm
row "2 ranks x 1 thread, TCP (lo), 64 KiB buckets" tcp
row "2 ranks x 1 thread, shared memory, one 25 MiB bucket" shm1
