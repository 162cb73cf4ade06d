package egress

import (
	"os"
	"testing"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// BenchmarkProbes analyzes a recorded probe file (two legs of 10 TCP and 10
// UDP attempts, plus the outside leg) with the node's sysctls and a SNAT
// rule, as diagnose does for every run.
func BenchmarkProbes(b *testing.B) {
	data, err := os.ReadFile("testdata/ephemeral-ports.json")
	if err != nil {
		b.Fatal(err)
	}
	s := &snapshot.Snapshot{}
	s.SetFile(probe.FilePath, data)
	for p, c := range scenarios[8].files {
		s.SetFile(p, []byte(c))
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := Probes(s); len(r.Findings) != 1 {
			b.Fatalf("findings = %d, want 1", len(r.Findings))
		}
	}
}
