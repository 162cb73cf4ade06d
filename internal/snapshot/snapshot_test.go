package snapshot

import (
	"strings"
	"testing"
)

func TestNoNodeDataReason(t *testing.T) {
	s := &Snapshot{}
	if got := s.NoNodeDataReason(); !strings.Contains(got, "collect with --node-data") {
		t.Errorf("without node data asked for: %q; want it to say how to collect it", got)
	}
	s.Manifest.Skipped = []Skip{
		{Resource: "events", Reason: "forbidden"},
		{Resource: "nodes/aks-0", Reason: "image registry.invalid/x cannot be pulled (ImagePullBackOff)"},
		{Resource: SkipNodeData, Reason: "no schedulable Linux node"},
	}
	got := s.NoNodeDataReason()
	for _, want := range []string{"nodes/aks-0: image registry.invalid/x cannot be pulled", "node-data: no schedulable Linux node"} {
		if !strings.Contains(got, want) {
			t.Errorf("NoNodeDataReason = %q; want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "events") {
		t.Errorf("NoNodeDataReason = %q; it names a skip that is not node data", got)
	}
}
