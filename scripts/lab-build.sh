#!/usr/bin/env bash
# lab-build.sh builds the lab's pinned binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-proxy, coredns) from their Go modules under
# lab/build into a cache directory keyed by the pinned versions, and prints that
# directory. It is a no-op when the binaries are already cached.
#
#   NDLAB_CACHE  cache root (default /var/cache/ndlab)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/lab/build"
cache="${NDLAB_CACHE:-/var/cache/ndlab}"

# The version key changes whenever a pin changes: it hashes both go.mod files.
key="$(cat "$build/go.mod" "$build/coredns/go.mod" | sha256sum | cut -c1-12)"
k8s="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$build/go.mod")"
out="$cache/bin-${k8s}-${key}"
bins=(etcd kube-apiserver kube-controller-manager kube-proxy coredns)

ok=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || ok=0; done
if [ $ok -eq 1 ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out.tmp"
export GOFLAGS="-trimpath -mod=mod"
export CGO_ENABLED=0
ld='-s -w'
start=$(date +%s)
(
  cd "$build"
  go build -ldflags="$ld" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3 >&2
  go build -ldflags="$ld" -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-proxy >&2
)
(
  cd "$build/coredns"
  go build -ldflags="$ld" -o "$out.tmp/coredns" github.com/coredns/coredns >&2
)
rm -rf "$out"
mv "$out.tmp" "$out"
echo "lab-build: built ${bins[*]} in $(( $(date +%s) - start ))s" >&2
echo "$out"
