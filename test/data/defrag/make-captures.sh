#!/bin/bash
# Records the defrag parity captures (see README.md): two network namespaces joined by a veth
# pair, traffic only between them, tcpdump on the target's side. Run as root from this folder.
# Needs iproute2, tcpdump, nmap, iputils-ping, python3. The namespaces are always removed.
set -euo pipefail
cd "$(dirname "$0")"
A="pal-dfa-$$"
B="pal-dfb-$$"
cleanup() {
  [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT

setup() { # $1: 4 or 6
  cleanup
  ip netns add "$A"
  ip netns add "$B"
  ip link add dfa netns "$A" type veth peer name dfb netns "$B"
  for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    if [ "$1" = 4 ]; then
      ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    else
      ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
    fi
  done
  if [ "$1" = 4 ]; then
    ip -n "$A" addr add 198.18.99.1/24 dev dfa
    ip -n "$B" addr add 198.18.99.2/24 dev dfb
  else
    ip -n "$A" addr add fd00:99::1/64 dev dfa nodad
    ip -n "$B" addr add fd00:99::2/64 dev dfb nodad
  fi
  ip -n "$A" link set dfa up
  ip -n "$B" link set dfb up
  sleep 1
}

# capture FILE COMMAND...: tcpdump on the target's side while COMMAND runs in the attacker's namespace.
capture() {
  local file=$1
  shift
  ip netns exec "$B" tcpdump -i dfb -s 0 -U -w "$file" 2>/dev/null &
  local td=$!
  sleep 1
  ip netns exec "$A" "$@" >/dev/null
  sleep 1
  kill -INT "$td"
  wait "$td" || true
}

setup 4
# An open port (80) beside the closed ones, so that some probes are answered with a SYN-ACK.
ip netns exec "$B" python3 -m http.server 80 --bind 198.18.99.2 >/dev/null 2>&1 &
SRV=$!
sleep 1
NMAP=(nmap -n -Pn --max-retries 0 -e dfa -p 1-100)
capture nmap-sS-f.pcap "${NMAP[@]}" -sS -f 198.18.99.2
capture nmap-sS-ff.pcap "${NMAP[@]}" -sS -f -f 198.18.99.2
capture nmap-sF-mtu24.pcap "${NMAP[@]}" -sF --mtu 24 198.18.99.2
# A 20-byte FIN probe fits in 24 bytes (no fragments above): 16-byte fragments do split it.
capture nmap-sF-mtu16.pcap "${NMAP[@]}" -sF --mtu 16 198.18.99.2
capture ping-s4000.pcap ping -c 3 -i 0.2 -s 4000 198.18.99.2
kill "$SRV"
SRV=
setup 6
capture ping6-s4000.pcap ping -6 -c 3 -i 0.2 -s 4000 fd00:99::2
ls -l ./*.pcap
