package azure

import (
	"net/netip"
	"testing"
)

func TestLookup(t *testing.T) {
	set, errs := Load(readTestdata(t, "rest/RouteTableGet.json"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	spec := &set.RouteTables[0]
	udr := &RouteTable{Name: "aks-udr", Routes: []Route{
		{Name: "default-via-fw", AddressPrefix: "0.0.0.0/0", NextHopType: "VirtualAppliance", NextHopIPAddress: "10.0.2.4"},
		{Name: "blackhole", AddressPrefix: "203.0.113.0/24", NextHopType: "None"},
		{Name: "direct", AddressPrefix: "198.51.100.7/32", NextHopType: "Internet"},
		{Name: "vnet-override", AddressPrefix: "10.224.0.0/16", NextHopType: "VirtualAppliance", NextHopIPAddress: "10.0.2.4"},
		{Name: "tagged", AddressPrefix: "AzureCloud", NextHopType: "Internet"},
	}}
	vnet := []netip.Prefix{netip.MustParsePrefix("10.224.0.0/16")}
	tests := []struct {
		name   string
		rt     *RouteTable
		dst    string
		hop    string
		ip     string
		route  string
		prefix string
	}{
		{"spec example: more specific user route", spec, "10.0.3.9", NextHopVirtualNetworkGateway, "", "route1", "10.0.3.0/24"},
		{"spec example: public goes to Internet", spec, "20.1.2.3", NextHopInternet, "", "", "0.0.0.0/0"},
		{"spec example: other private space is dropped", spec, "10.9.0.1", NextHopNone, "", "", "10.0.0.0/8"},
		{"no table: vnet local", nil, "10.224.1.1", NextHopVnetLocal, "", "", "10.224.0.0/16"},
		{"udr default via NVA", udr, "20.1.2.3", NextHopVirtualAppliance, "10.0.2.4", "default-via-fw", "0.0.0.0/0"},
		{"udr blackhole wins by length", udr, "203.0.113.10", NextHopNone, "", "blackhole", "203.0.113.0/24"},
		{"udr /32 bypass", udr, "198.51.100.7", NextHopInternet, "", "direct", "198.51.100.7/32"},
		{"user route beats system route of equal length", udr, "10.224.3.3", NextHopVirtualAppliance, "10.0.2.4", "vnet-override", "10.224.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, errs := Lookup(tt.rt, vnet, netip.MustParseAddr(tt.dst))
			if tt.rt == udr && len(errs) != 1 {
				t.Errorf("errors: got %v, want one for the service-tag route", errs)
			}
			name := ""
			if d.Route != nil {
				name = d.Route.Name
			}
			if d.NextHopType != tt.hop || d.NextHopIP != tt.ip || name != tt.route || d.Prefix.String() != tt.prefix {
				t.Errorf("got %s (route %q), want %s %s via %q %s", d, name, tt.prefix, tt.hop, tt.route, tt.ip)
			}
		})
	}
}

func TestCheckPodCIDRRoutes(t *testing.T) {
	// Routes as the kubenet route controller writes them (name = node's
	// VMSS instance name, prefix = pod CIDR, next hop = node IP).
	rt := &RouteTable{Name: "aks-agentpool-22064185-routetable", Routes: []Route{
		{Name: "aks-nodepool1-22064185-vmss000000", AddressPrefix: "10.244.0.0/24", NextHopType: "VirtualAppliance", NextHopIPAddress: "10.240.0.4"},
		{Name: "aks-nodepool1-22064185-vmss000001", AddressPrefix: "10.244.1.0/24", NextHopType: "VirtualAppliance", NextHopIPAddress: "10.240.0.9"},
	}}
	nodes := map[string][2]string{
		"aks-nodepool1-22064185-vmss000000": {"10.244.0.0/24", "10.240.0.4"},
		"aks-nodepool1-22064185-vmss000001": {"10.244.1.0/24", "10.240.0.5"},
		"aks-nodepool1-22064185-vmss000002": {"10.244.2.0/24", "10.240.0.6"},
	}
	got := CheckPodCIDRRoutes(rt, nodes)
	want := []string{
		"",
		"route aks-nodepool1-22064185-vmss000001 sends pod CIDR 10.244.1.0/24 of node aks-nodepool1-22064185-vmss000001 to 10.240.0.9, but the node's IP is 10.240.0.5",
		"no route for pod CIDR 10.244.2.0/24 of node aks-nodepool1-22064185-vmss000002 in route table aks-agentpool-22064185-routetable",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Problem != want[i] {
			t.Errorf("node %s: got %q, want %q", got[i].Node, got[i].Problem, want[i])
		}
	}
}
