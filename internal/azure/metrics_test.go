package azure

import "testing"

func TestSNATByBackend(t *testing.T) {
	set, errs := Load(readTestdata(t, "az/metrics-snat.json"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := SNATByBackend(set.Metrics)
	tests := []struct {
		ip                      string
		allocated, used, failed float64
	}{
		{"10.224.0.4", 1024, 1016, 37},
		{"10.224.0.5", 1024, 44, 0},
	}
	if len(got) != len(tests) {
		t.Fatalf("got %d backends, want %d", len(got), len(tests))
	}
	for _, tt := range tests {
		b := got[tt.ip]
		if b == nil || b.Allocated != tt.allocated || b.Used != tt.used || b.FailedConnections != tt.failed || !b.HasAllocated || !b.HasUsed {
			t.Errorf("%s: got %+v, want allocated %v used %v failed %v", tt.ip, b, tt.allocated, tt.used, tt.failed)
		}
	}
}
