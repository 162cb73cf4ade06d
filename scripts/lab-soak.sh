#!/usr/bin/env bash
# lab-soak.sh brings a lab up and down N times (default 10) and checks that
# nothing leaks: network namespaces, processes, host links, mounts, files.
# It uses a lab of its own name (default "soak": namespaces ndlsoak-*, run dir
# /run/ndlab-soak), so it can run beside the default lab. Run as root:
#   bash scripts/lab-soak.sh [N] [NAME]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-10}"
name="${2:-soak}"
run="/run/ndlab-$name"
prefix="ndl$name-"
ndlab="$(mktemp -d)/ndlab"
(cd "$here" && go build -o "$ndlab" ./cmd/ndlab)
bash "$here/scripts/lab-build.sh" >/dev/null

count() {
  local procs=0 f
  for f in /proc/[0-9]*/environ; do
    if { tr "\0" "\n" <"$f"; } 2>/dev/null | grep -qx "NDLAB_LAB_PROCESS=$run"; then procs=$((procs + 1)); fi
  done
  echo "netns=$(ip netns list | grep -c "^$prefix" || true)" \
       "procs=$procs" \
       "hostlinks=$(ip -o link show | grep -c "$prefix" || true)" \
       "mounts=$(grep -c -E "$run|/run/netns/$prefix" /proc/self/mountinfo || true)" \
       "rundir=$([ -e "$run" ] && echo yes || echo no)"
}
if [ -e "$run/state.json" ]; then
  echo "lab $name is up: not soaking" >&2
  exit 1
fi
before="$(count)"
echo "before: $before"
for i in $(seq 1 "$n"); do
  t0=$(date +%s.%N)
  "$ndlab" --name "$name" up >/dev/null 2>"/tmp/lab-soak-up.$i.log" || { echo "cycle $i: up failed (a failed up removes what it made)"; cat "/tmp/lab-soak-up.$i.log"; exit 1; }
  t1=$(date +%s.%N)
  "$ndlab" --name "$name" down >/dev/null
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
