#!/usr/bin/env bash
# lab-soak.sh brings the lab up and down N times (default 10) and checks that
# nothing leaks: network namespaces, lab processes, host veths, mounts, files.
# Run as root with no lab up:  bash scripts/lab-soak.sh [N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-10}"
ndlab="$(mktemp -d)/ndlab"
(cd "$here" && go build -o "$ndlab" ./cmd/ndlab)
bash "$here/scripts/lab-build.sh" >/dev/null

count() {
  echo "netns=$(ip netns list | grep -c '^ndl-' || true)" \
       "procs=$(pgrep -c -f 'kube-apiserver|etcd|kube-proxy|kube-controller-manager|coredns|ndlab daemon|bin/kubelet' || true)" \
       "veths=$(ip -o link show type veth | wc -l)" \
       "mounts=$(grep -c -E 'ndlab|/run/netns/ndl-' /proc/self/mountinfo || true)" \
       "rundir=$([ -e "${NDLAB_RUN:-/run/ndlab}" ] && echo yes || echo no)"
}
if [ -e "${NDLAB_RUN:-/run/ndlab}/state.json" ]; then
  echo "a lab is up (maybe someone else's): not soaking" >&2
  exit 1
fi
before="$(count)"
echo "before: $before"
for i in $(seq 1 "$n"); do
  t0=$(date +%s.%N)
  "$ndlab" up >/dev/null 2>"/tmp/lab-soak-up.$i.log" || { echo "cycle $i: up failed (a failed up removes what it made)"; cat "/tmp/lab-soak-up.$i.log"; exit 1; }
  t1=$(date +%s.%N)
  "$ndlab" down >/dev/null
  t2=$(date +%s.%N)
  now="$(count)"
  printf 'cycle %2d: up %5.1fs down %4.1fs  %s\n' "$i" "$(awk "BEGIN{print $t1-$t0}")" "$(awk "BEGIN{print $t2-$t1}")" "$now"
  if [ "$now" != "$before" ]; then
    echo "LEAK after cycle $i: before [$before] now [$now]"
    exit 1
  fi
  rm -f "/tmp/lab-soak-up.$i.log"
done
echo "soak: $n cycles, nothing leaked"
