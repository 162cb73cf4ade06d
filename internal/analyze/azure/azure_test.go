package azure

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

// loadCase builds a snapshot from testdata/<name> (snapshottest.LoadCase).
func loadCase(t *testing.T, name string) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshottest.LoadCase(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOutboundGolden(t *testing.T) {
	snapshottest.RunGoldenCases(t, "testdata", Outbound)
}

// The facts each case must establish, independently of the golden text.
func TestOutboundNamesTheCause(t *testing.T) {
	tests := []struct {
		name     string
		code     string
		severity finding.Severity
		contains []string // in title, subjects, evidence or remediation
	}{
		{"snat-exhausted", "EGR001", finding.Critical, []string{"aks-nodepool1-22064185-vmss000000", "20.50.2.3:443", "pod shop/checkout-7d9f8b6c5-x2x8q", "Used SNAT Ports 1016 of Allocated 1024"}},
		{"snat-over-allocation", "EGR001", finding.Critical, []string{"InvalidLoadBalancerProfileAllocatedOutboundPorts", "Total node count 4 requires 84000 ports but only 64000 ports are available given 1 outbound public IPs"}},
		{"udr-blackhole", "EGR002", finding.Critical, []string{"block-partner", "203.0.113.0/24", "203.0.113.50:443: 12 flows in SYN_SENT"}},
		{"udr-blackhole", "EGR002", finding.Warning, []string{"10.0.2.4", "198.51.100.20:443"}},
		{"udr-appliance-probe", "EGR002", finding.Warning, []string{"10.0.2.4", "198.51.100.80:80: probe from node aks-nodepool1-22064185-vmss000000: persistent timeout", "--address-prefix 198.51.100.80/32 --next-hop-type Internet"}},
		{"udr-appliance-outside-vnet", "EGR002", finding.Critical, []string{"10.50.0.4, outside the virtual network and its peerings", "10.224.0.0/16 10.0.0.0/22"}},
		{"nsg-deny", "EGR003", finding.Critical, []string{"deny-partner-api", "priority 200", "port 8443"}},
		{"nat-gateway-unassociated", "EGR005", finding.Critical, []string{"aks-subnet", "aks-natgw"}},
		{"nat-gateway-unassociated", "EGR005", finding.Warning, []string{"7200 s", "idle for 4 min"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.code+"/"+string(tt.severity), func(t *testing.T) {
			r := Outbound(loadCase(t, tt.name))
			var match *finding.Finding
			for i := range r.Findings {
				if r.Findings[i].Code == tt.code && r.Findings[i].Severity == tt.severity {
					match = &r.Findings[i]
				}
			}
			if match == nil {
				t.Fatalf("got findings %v, want a %s %s", codes(r), tt.severity, tt.code)
			}
			text := match.Title + "\n" + strings.Join(match.Evidence, "\n") + "\n" + strings.Join(match.Remediation, "\n")
			for _, s := range match.Subjects {
				text += "\n" + s.String()
			}
			for _, want := range tt.contains {
				if !strings.Contains(text, want) {
					t.Errorf("finding %q: want %q in it; got:\n%s", match.Title, want, text)
				}
			}
			if len(match.Remediation) == 0 {
				t.Errorf("finding %q has no remediation", match.Title)
			}
		})
	}
}

func TestOutboundHealthyAndMissingData(t *testing.T) {
	// A kubenet route table missing a node's pod CIDR route is NODE001's
	// finding, not EGR002's: no finding here.
	if r := Outbound(loadCase(t, "kubenet-route-missing")); len(r.Findings) != 0 {
		t.Errorf("kubenet-route-missing: got %v, want none (NODE001 reports it)", codes(r))
	}
	r := Outbound(loadCase(t, "healthy"))
	if len(r.Findings) != 0 {
		t.Errorf("healthy: got findings %v, want none", codes(r))
	}
	want := map[string]finding.Status{checkData: finding.Passed, checkSNAT: finding.Passed, checkNSG: finding.Passed, checkUDR: finding.Skipped, checkNAT: finding.Skipped}
	for _, c := range r.Checks {
		if want[c.Name] != c.Status {
			t.Errorf("healthy: check %s: got %s (%s), want %s", c.Name, c.Status, c.Reason, want[c.Name])
		}
	}
	r = Outbound(loadCase(t, "no-azure-data"))
	if len(r.Findings) != 0 || len(r.Checks) != 4 {
		t.Fatalf("no data: got %v findings and %d checks, want none and 4", codes(r), len(r.Checks))
	}
	for _, c := range r.Checks {
		if c.Status != finding.Skipped || !strings.Contains(c.Reason, "--azure") {
			t.Errorf("no data: check %s: got %s %q, want skipped with how to provide the data", c.Name, c.Status, c.Reason)
		}
	}
}

func TestOutboundBadFile(t *testing.T) {
	s := loadCase(t, "healthy")
	s.SetFile("azure/broken.json", []byte("{\n \"type\": \"Microsoft.Network/routeTables\",\n \"routes\": [\n"))
	r := Outbound(s)
	var found bool
	for _, c := range r.Checks {
		if c.Name == checkData && c.Status == finding.Error && strings.Contains(c.Reason, "azure/broken.json:4") {
			found = true
		}
	}
	if !found {
		t.Errorf("got checks %+v, want an azure/data error naming azure/broken.json:4", r.Checks)
	}
	if len(r.Findings) != 0 {
		t.Errorf("a broken file must not produce findings from the good ones; got %v", codes(r))
	}
}

func codes(r finding.Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, string(f.Severity)+" "+f.Code+": "+f.Title)
	}
	return out
}

func TestOutboundSNATNearExhaustion(t *testing.T) {
	s := loadCase(t, "healthy")
	node := "aks-nodepool1-22064185-vmss000000"
	// 900 of 1024 ports to one destination: over 80%, not yet out.
	s.SetFile("nodes/"+node+"/connections.json", []byte(`{"source":"/proc/net/nf_conntrack","entries":950,"tcpEstablished":900,"tcpSynSent":0,
	  "destinations":[{"ip":"20.50.2.3","port":443,"established":900,"synSent":0,"snat":900},{"ip":"10.0.0.10","port":53,"established":3,"synSent":0,"snat":0}]}`))
	r := Outbound(s)
	if len(r.Findings) != 1 {
		t.Fatalf("got %v, want one EGR001 warning", codes(r))
	}
	f := r.Findings[0]
	if f.Code != "EGR001" || f.Severity != finding.Warning || !strings.Contains(f.Title, "near exhaustion (over 80%) on "+node) {
		t.Errorf("got %s %s %q", f.Severity, f.Code, f.Title)
	}
	if !strings.Contains(strings.Join(f.Remediation, "\n"), "--load-balancer-outbound-ports 2048") {
		t.Errorf("remediation should double the ports: %v", f.Remediation)
	}
}
