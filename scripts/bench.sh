#!/usr/bin/env bash
# bench.sh measures 'netdoctor diagnose --bundle' on a generated bundle of a
# large cluster (5,000 nodes, 150,000 pods, 20,000 Services with their
# EndpointSlices, 5,000 NetworkPolicies, 50,000 events): wall time and peak
# RSS, plus the Go benchmarks of the hot packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="${BENCH_DIR:-$(mktemp -d)}"
trap 'rm -rf "$work"' EXIT
go build -o "$work/netdoctor" ./cmd/netdoctor
go run ./bench/genbundle -o "$work/big"
echo "bundle: $(du -sh "$work/big" | cut -f1) on disk"
for i in 1 2 3; do
  /usr/bin/time -f "diagnose --bundle: wall %es, peak RSS %MkB" "$work/netdoctor" diagnose --bundle "$work/big" -o json --fail-on none >/dev/null
done
go test -run '^$' -bench . -benchmem ./internal/snapshot/ ./internal/analyze/...
