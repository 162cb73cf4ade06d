package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSNATText(t *testing.T) {
	// The case of Azure/azure-cli#22374: 3 nodes, 1 IP, 21000 ports.
	out, stderr, code := run(t, "snat", "--nodes", "3", "--ips", "1", "--ports", "21000")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	gf := filepath.Join("testdata", "snat-21000.golden.txt")
	if updating() {
		if err := os.WriteFile(gf, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(gf)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if out != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestSNATJSON(t *testing.T) {
	tests := []struct {
		args                   []string
		portsPerNode, maxNodes int
		valid                  bool
		errorCode              string
	}{
		{[]string{"--nodes", "3"}, 1024, 1000, true, ""},
		{[]string{"--nodes", "60"}, 512, 1000, true, ""},
		{[]string{"--nodes", "1001"}, 0, 1000, false, ""},
		{[]string{"--nodes", "22", "--surge", "3", "--ports", "3200"}, 3200, 17, false, "InvalidLoadBalancerProfileAllocatedOutboundPorts"},
		{[]string{"--nodes", "10", "--ips", "2", "--ports", "4000"}, 4000, 31, true, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, stderr, code := run(t, append([]string{"snat", "-o", "json"}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got snatReport
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			s := got.Scenario
			if s.PortsPerNode != tt.portsPerNode || s.MaxNodes != tt.maxNodes || s.Valid != tt.valid || s.ErrorCode != tt.errorCode {
				t.Errorf("got ports %d max %d valid %v code %q; want %d %d %v %q", s.PortsPerNode, s.MaxNodes, s.Valid, s.ErrorCode, tt.portsPerNode, tt.maxNodes, tt.valid, tt.errorCode)
			}
			if len(got.DefaultTable) != 6 || got.NATGateway.TotalPorts != 64512*s.IPs {
				t.Errorf("got table %v, NAT gateway %+v", got.DefaultTable, got.NATGateway)
			}
		})
	}
}

func TestSNATUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--ports", "1001"}, {"--ports", "64008"}, {"--nodes", "0"}, {"--ips", "0"}, {"-o", "yaml"}, {"extra"},
	} {
		_, stderr, code := run(t, append([]string{"snat"}, args...)...)
		if code != ExitError || stderr == "" {
			t.Errorf("snat %v: got exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
}

// updating reports whether -update (defined by snapshottest) was given.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}
