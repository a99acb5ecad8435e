#!/usr/bin/env bash
# Two "hosts" on one machine: two Linux network namespaces joined by a veth pair, each with its own address in
# TEST-NET-1 (192.0.2.0/24, reserved for documentation), so that mpirun launches across a real network stack
# (docs/distributed.md, "Two hosts on one machine"). Needs root and iproute2.
#
#   scripts/netns-hosts.sh up   [PREFIX]   namespaces PREFIX-a (192.0.2.1) and PREFIX-b (192.0.2.2), link PREFIX-va <-> PREFIX-vb
#   scripts/netns-hosts.sh cut  [PREFIX]   set the link down (a cable pulled: no error, packets vanish)
#   scripts/netns-hosts.sh mend [PREFIX]   set it up again
#   scripts/netns-hosts.sh pids [PREFIX]   the processes in each namespace
#   scripts/netns-hosts.sh down [PREFIX]   kill every process left in the namespaces, delete them (and the link)
#
# PREFIX defaults to cg (at most 12 characters: interface names are limited to 15). Launch from the first namespace
# with scripts/netns-rsh as the remote shell, which enters the namespace that owns the host's address:
#
#   printf '192.0.2.1 slots=1\n192.0.2.2 slots=1\n' > hosts
#   ip netns exec cg-a mpirun --allow-run-as-root --hostfile hosts -np 2 --mca plm_rsh_agent "$PWD/scripts/netns-rsh" \
#       --mca btl tcp,self --mca btl_tcp_if_include 192.0.2.0/24 --mca oob_tcp_if_include 192.0.2.0/24 \
#       dotnet src/ConvGrad.Cli/bin/Release/net10.0/ConvGrad.Cli.dll train --distributed --out out/two-hosts
set -euo pipefail
cmd=${1:-}
prefix=${2:-cg}
if [ ${#prefix} -gt 12 ] || ! [[ $prefix =~ ^[a-z0-9-]+$ ]]; then
  echo "netns-hosts: PREFIX must be 1-12 of a-z 0-9 -; got '$prefix'" >&2; exit 2
fi
a=$prefix-a b=$prefix-b va=$prefix-va vb=$prefix-vb

case $cmd in
  up)
    ip netns add "$a"
    ip netns add "$b"
    ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b"
    ip -n "$a" addr add 192.0.2.1/24 dev "$va"
    ip -n "$b" addr add 192.0.2.2/24 dev "$vb"
    for ns in "$a" "$b"; do
      ip -n "$ns" link set lo up
      # A host of a cluster that should notice a dead peer: give up on unanswered TCP data after 5 retransmissions
      # (about 13 s) instead of Linux's 15 (about 15 minutes); per namespace, the machine's own setting is untouched.
      ip netns exec "$ns" sh -c 'echo 5 > /proc/sys/net/ipv4/tcp_retries2'
    done
    ip -n "$a" link set "$va" up
    ip -n "$b" link set "$vb" up
    echo "$a: 192.0.2.1 ($va)  <->  $b: 192.0.2.2 ($vb)"
    ;;
  cut)  ip -n "$a" link set "$va" down ;;
  pids) for ns in "$a" "$b"; do for pid in $(ip netns pids "$ns"); do echo "$ns $pid $(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-200)"; done; done ;;
  mend) ip -n "$a" link set "$va" up ;;
  down)
    for ns in "$a" "$b"; do
      if ip netns list | grep -qw -- "$ns"; then
        for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns"
      fi
    done
    ;;
  *)
    echo "usage: scripts/netns-hosts.sh up|cut|mend|pids|down [PREFIX]" >&2; exit 2 ;;
esac
