#!/usr/bin/env bash
# Captures convgrad's output on a terminal (tmux pane, mid-run and at the end) and through a pipe, for `train` and
# `bench`: the terminal shows Spectre.Console's live bar / live table, the pipe the plain lines scripts parse.
# usage: scripts/capture-progress.sh TTY_OUT PIPE_OUT   (after dotnet build src/ConvGrad.Cli -c Release)
set -euo pipefail
cd "$(dirname "$0")/.."
tty_out=${1:?TTY_OUT}; pipe_out=${2:?PIPE_OUT}
cg="dotnet $PWD/src/ConvGrad.Cli/bin/Release/net10.0/ConvGrad.Cli.dll"
out=$(mktemp -d)
train="train --epochs 2 --train-limit 1000 --threads 1 --out $out"
bench="bench --only seed-4x4-k2-s2,mnist-c1-3x3,mnist-c2-3x3,mbv2-dw3x3-28 --min-time 0.05 --threads 1"

{
  for cmd in "$train" "$bench"; do
    echo "=== terminal (tmux 140x40): convgrad $cmd"
    tmux kill-session -t cgcap 2>/dev/null || true
    tmux new-session -d -s cgcap -x 140 -y 40 "$cg $cmd; echo '[exit '\$?']'; sleep 600"
    for i in 1 2 3; do
      sleep 6
      echo "--- pane after $((6 * i)) s:"
      tmux capture-pane -p -t cgcap | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
    done
    until tmux capture-pane -p -t cgcap | grep -q '^\[exit'; do sleep 2; done
    echo "--- pane at the end:"
    tmux capture-pane -p -t cgcap | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
    tmux kill-session -t cgcap
  done
} > "$tty_out"

{
  for cmd in "$train" "$bench" "$bench --format csv"; do
    echo "=== pipe: convgrad $cmd 2>&1 | cat"
    $cg $cmd 2>&1 | cat
  done
} > "$pipe_out"
rm -rf "$out"
