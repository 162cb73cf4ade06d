package azure

import (
	"errors"
	"testing"
)

func TestDefaultPortsPerNode(t *testing.T) {
	tests := []struct {
		pool, want int
		err        bool
	}{
		{1, 1024, false}, {50, 1024, false}, {51, 512, false}, {100, 512, false},
		{101, 256, false}, {200, 256, false}, {201, 128, false}, {400, 128, false},
		{401, 64, false}, {800, 64, false}, {801, 32, false}, {1000, 32, false},
		{1001, 0, true}, {0, 0, true},
	}
	for _, tt := range tests {
		got, err := DefaultPortsPerNode(tt.pool)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("DefaultPortsPerNode(%d): got %d, %v; want %d, error %v", tt.pool, got, err, tt.want, tt.err)
		}
	}
}

// The error texts AKS returned in public reports (Azure/azure-cli#22374,
// jenkins-infra/azure#580 and #581) must come out of ValidateAllocation
// word for word from the same inputs.
func TestValidateAllocationMatchesAKS(t *testing.T) {
	tests := []struct {
		name              string
		ports, nodes, ips int
		want              string
	}{
		{"azure-cli#22374: 3 nodes + 1 surge", 21000, 4, 1,
			"Load balancer profile allocated ports 21000 is not in an allowable range given the number of nodes and IPs provisioned. Total node count 4 requires 84000 ports but only 64000 ports are available given 1 outbound public IPs. Refer to https://aka.ms/aks/slb-ports for more details."},
		{"jenkins-infra#580: 22 nodes + 3 surge", 3200, 25, 1,
			"Load balancer profile allocated ports 3200 is not in an allowable range given the number of nodes and IPs provisioned. Total node count 25 requires 80000 ports but only 64000 ports are available given 1 outbound public IPs. Refer to https://aka.ms/aks/slb-ports for more details."},
		{"jenkins-infra#581: 44 nodes + 6 surge", 1600, 50, 1,
			"Load balancer profile allocated ports 1600 is not in an allowable range given the number of nodes and IPs provisioned. Total node count 50 requires 80000 ports but only 64000 ports are available given 1 outbound public IPs. Refer to https://aka.ms/aks/slb-ports for more details."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAllocation(tt.ports, tt.nodes, tt.ips)
			var ae *AllocationError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an AllocationError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	// azure-cli#16480: 2 IPs, 3 nodes (+1 surge), 42664 ports: 4 x 42664 =
	// 170656 > 128000, so AKS was right to refuse; 3 x 42664 would fit.
	if err := ValidateAllocation(42664, 4, 2); err == nil {
		t.Errorf("42664 ports x 4 nodes on 2 IPs: got nil, want an error")
	}
	for _, ok := range [][3]int{{0, 5000, 1}, {1024, 62, 1}, {32000, 4, 2}, {64000, 1, 1}} {
		if err := ValidateAllocation(ok[0], ok[1], ok[2]); err != nil {
			t.Errorf("ValidateAllocation%v: got %v, want nil", ok, err)
		}
	}
	for _, bad := range [][3]int{{1001, 1, 1}, {64008, 1, 2}, {-8, 1, 1}} {
		if err := ValidateAllocation(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("ValidateAllocation%v: got nil, want an error", bad)
		}
	}
}

func TestLBCapacity(t *testing.T) {
	tests := []struct {
		name                          string
		nodes, ips, allocated, surge  int
		wantPorts, wantMax, wantTotal int
		wantErr                       bool
	}{
		{"default, 3 nodes", 3, 1, 0, 1, 1024, 1000, 64000, false},
		{"default, 60 nodes", 60, 1, 0, 1, 512, 1000, 64000, false},
		{"default, 1200 nodes", 1200, 1, 0, 1, 0, 1000, 64000, true},
		{"4000 ports, 2 IPs", 10, 2, 4000, 1, 4000, 31, 128000, false},
		{"over-allocated", 20, 1, 4000, 1, 4000, 15, 64000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := LBCapacity(tt.nodes, tt.ips, tt.allocated, tt.surge)
			if c.PortsPerNode != tt.wantPorts || c.MaxNodes != tt.wantMax || c.TotalPorts != tt.wantTotal || (c.Err != nil) != tt.wantErr {
				t.Errorf("got ports %d max %d total %d err %v; want %d %d %d err %v",
					c.PortsPerNode, c.MaxNodes, c.TotalPorts, c.Err, tt.wantPorts, tt.wantMax, tt.wantTotal, tt.wantErr)
			}
		})
	}
}

func TestWhatIfHelpers(t *testing.T) {
	if got := PortsForNodes(1, 4); got != 16000 {
		t.Errorf("PortsForNodes(1, 4): got %d, want 16000", got)
	}
	if got := PortsForNodes(1, 3); got != 21328 { // 21333 rounded down to a multiple of 8
		t.Errorf("PortsForNodes(1, 3): got %d, want 21328", got)
	}
	if got := IPsForNodes(101, 4000); got != 7 { // 404000 / 64000 = 6.3
		t.Errorf("IPsForNodes(101, 4000): got %d, want 7", got)
	}
	if got := MaxNodes(1, 21000, 1); got != 2 {
		t.Errorf("MaxNodes(1, 21000, 1): got %d, want 2", got)
	}
}

func TestNATGatewayCapacity(t *testing.T) {
	c := NATGatewayCapacity(2, 0)
	if c.TotalPorts != 129024 || c.IdleTimeout != 4 || c.Err != nil {
		t.Errorf("2 IPs: got %+v", c)
	}
	if c := NATGatewayCapacity(17, 10); c.Err == nil {
		t.Errorf("17 IPs: got no error, want one")
	}
}

func TestSurge(t *testing.T) {
	tests := []struct {
		in    string
		count int
		want  int
		err   bool
	}{
		{"", 3, 1, false}, {"1", 3, 1, false}, {"3", 10, 3, false}, {"10%", 3, 1, false},
		{"33%", 10, 4, false}, {"100%", 5, 5, false}, {"x", 3, 0, true}, {"-1", 3, 0, true},
	}
	for _, tt := range tests {
		got, err := Surge(tt.in, tt.count)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Surge(%q, %d): got %d, %v; want %d, error %v", tt.in, tt.count, got, err, tt.want, tt.err)
		}
	}
}
