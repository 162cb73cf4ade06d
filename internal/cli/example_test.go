package cli

import (
	"encoding/json"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
)

// TestExampleBundle runs the README's first command on the bundled example
// and checks that it shows the problems examples/README.md lists.
func TestExampleBundle(t *testing.T) {
	out, stderr, code := run(t, "diagnose", "--bundle", "../../examples/broken-cluster.tar.gz", "--fail-on", "none", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d; want 0 with --fail-on none: %s", code, stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	want := []struct {
		code     string
		severity finding.Severity
		kind     string
		ns, name string
	}{
		{"SVC001", finding.Critical, "Service", "shop", "web"},
		{"SVC002", finding.Critical, "Service", "shop", "api"},
		{"SVC003", finding.Critical, "Service", "shop", "cart"},
		{"LB001", finding.Critical, "Service", "default", "ndlab-lb"},
		{"LB001", finding.Info, "Service", "shop", "storefront"},
		{"NODE001", finding.Critical, "Node", "", "aks-nodepool1-12345678-vmss000002"},
	}
	for _, w := range want {
		found := false
		for _, f := range rep.Findings {
			for _, s := range f.Subjects {
				if f.Code == w.code && f.Severity == w.severity && s.Kind == w.kind && s.Namespace == w.ns && s.Name == w.name {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no %s %s for %s %s/%s in the example's findings", w.severity, w.code, w.kind, w.ns, w.name)
		}
	}
}
