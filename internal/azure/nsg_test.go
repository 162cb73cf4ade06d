package azure

import (
	"net/netip"
	"testing"
)

func TestEvaluateOutboundSpecExample(t *testing.T) {
	set, errs := Load(readTestdata(t, "rest/NetworkSecurityGroupGet.json"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	nsg := &set.NSGs[0]
	env := Env{VNetPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}
	src := netip.MustParseAddr("10.0.1.4")
	tests := []struct {
		name      string
		flow      Flow
		access    string
		rule      string
		isDefault bool
	}{
		// rule1 is Inbound: it must not decide an outbound flow.
		{"internet tcp 80", Flow{src, netip.MustParseAddr("20.50.2.1"), 80, "Tcp"}, Allow, "AllowInternetOutBound", true},
		{"vnet udp 53", Flow{src, netip.MustParseAddr("10.0.0.10"), 53, "Udp"}, Allow, "AllowVnetOutBound", true},
		{"load balancer probe address is Internet-tagged", Flow{src, AzureLoadBalancerIP, 80, "Tcp"}, Allow, "AllowInternetOutBound", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := nsg.EvaluateOutbound(tt.flow, env)
			if v.Access != tt.access || v.Decider == nil || v.Decider.Rule.Name != tt.rule || v.Decider.Default != tt.isDefault {
				t.Errorf("got %+v (decider %v), want %s by %s", v, v.Decider, tt.access, tt.rule)
			}
		})
	}
	// A private destination outside the known VNet: VirtualNetwork may or
	// may not include it (peering), so the verdict is Unknown, not guessed.
	v := nsg.EvaluateOutbound(Flow{src, netip.MustParseAddr("172.16.5.5"), 443, "Tcp"}, env)
	if v.Access != Unknown || v.Decider == nil || v.Decider.Rule.Name != "AllowVnetOutBound" {
		t.Errorf("peered-or-not private address: got %+v, want Unknown at AllowVnetOutBound", v)
	}
}

func TestEvaluateOutboundCustomRules(t *testing.T) {
	// An AKS node NSG with hand-added outbound rules; DefaultSecurityRules
	// omitted, as in a template, so the built-in defaults apply.
	nsg := &NSG{Name: "aks-agentpool-nsg", SecurityRules: []SecurityRule{
		{Name: "deny-8080-out", Protocol: "Tcp", SourcePortRange: "*", DestinationPortRange: "8080", SourceAddressPrefix: "*", DestinationAddressPrefix: "Internet", Access: "Deny", Priority: 200, Direction: "Outbound"},
		{Name: "allow-storage", Protocol: "Tcp", SourcePortRange: "*", DestinationPortRange: "443", SourceAddressPrefix: "VirtualNetwork", DestinationAddressPrefix: "Storage.WestEurope", Access: "Allow", Priority: 300, Direction: "Outbound"},
		{Name: "deny-range", Protocol: "*", SourcePortRange: "*", DestinationPortRanges: []string{"5000-5010", "6000"}, SourceAddressPrefix: "*", DestinationAddressPrefixes: []string{"198.51.100.0/24", "192.0.2.1"}, Access: "Deny", Priority: 400, Direction: "Outbound"},
		{Name: "allow-asg", Protocol: "Udp", SourcePortRange: "*", DestinationPortRange: "*", SourceAddressPrefix: "*", DestinationApplicationSecurityGroups: []SubResource{{ID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/applicationSecurityGroups/db"}}, Access: "Allow", Priority: 500, Direction: "Outbound"},
		{Name: "deny-all-out", Protocol: "*", SourcePortRange: "*", DestinationPortRange: "*", SourceAddressPrefix: "*", DestinationAddressPrefix: "*", Access: "Deny", Priority: 4096, Direction: "Outbound"},
	}}
	env := Env{VNetPrefixes: []netip.Prefix{netip.MustParsePrefix("10.224.0.0/12")}}
	src := netip.MustParseAddr("10.224.0.4")
	tests := []struct {
		name   string
		flow   Flow
		access string
		rule   string
	}{
		{"denied port", Flow{src, netip.MustParseAddr("20.1.1.1"), 8080, "Tcp"}, Deny, "deny-8080-out"},
		{"udp 8080 not denied by the tcp rule", Flow{src, netip.MustParseAddr("20.1.1.1"), 8080, "Udp"}, Unknown, "allow-asg"},
		{"service tag before a decision is unknown", Flow{src, netip.MustParseAddr("20.1.1.1"), 443, "Tcp"}, Unknown, "allow-storage"},
		{"port list and prefix list", Flow{src, netip.MustParseAddr("198.51.100.20"), 5005, "Tcp"}, Deny, "deny-range"},
		{"single address in list", Flow{src, netip.MustParseAddr("192.0.2.1"), 6000, "Tcp"}, Deny, "deny-range"},
		{"outside port range falls to deny-all", Flow{src, netip.MustParseAddr("198.51.100.20"), 5011, "Tcp"}, Deny, "deny-all-out"},
		{"icmp hits deny-all", Flow{src, netip.MustParseAddr("20.1.1.1"), 0, "Icmp"}, Deny, "deny-all-out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := nsg.EvaluateOutbound(tt.flow, env)
			if v.Access != tt.access || v.Decider == nil || v.Decider.Rule.Name != tt.rule {
				t.Errorf("got %s by %v (%s), want %s by %s", v.Access, v.Decider, v.Reason, tt.access, tt.rule)
			}
		})
	}
}

func TestEffectiveOutbound(t *testing.T) {
	allowAll := &NSG{Name: "nic-nsg"}
	deny := &NSG{Name: "subnet-nsg", SecurityRules: []SecurityRule{
		{Name: "deny-443", Protocol: "Tcp", DestinationPortRange: "443", SourceAddressPrefix: "*", DestinationAddressPrefix: "*", Access: "Deny", Priority: 100, Direction: "Outbound"},
	}}
	f := Flow{netip.MustParseAddr("10.224.0.4"), netip.MustParseAddr("20.1.1.1"), 443, "Tcp"}
	env := Env{}
	tests := []struct {
		name        string
		nic, subnet *NSG
		access      string
		nsg, rule   string
	}{
		{"subnet denies", allowAll, deny, Deny, "subnet-nsg", "deny-443"},
		{"nic denies first", deny, allowAll, Deny, "subnet-nsg", "deny-443"},
		{"both allow: subnet decides", allowAll, allowAll, Allow, "nic-nsg", "AllowInternetOutBound"},
		{"subnet only", nil, allowAll, Allow, "nic-nsg", "AllowInternetOutBound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := EffectiveOutbound(tt.nic, tt.subnet, f, env)
			if v.Access != tt.access || v.Decider == nil || v.Decider.NSG != tt.nsg || v.Decider.Rule.Name != tt.rule {
				t.Errorf("got %s by %v, want %s by %s/%s", v.Access, v.Decider, tt.access, tt.nsg, tt.rule)
			}
		})
	}
	if v := EffectiveOutbound(nil, nil, f, env); v.Access != Allow || v.Decider != nil {
		t.Errorf("no NSG: got %+v, want Allow with no decider", v)
	}
}

func TestSampleFlow(t *testing.T) {
	src := netip.MustParseAddr("10.224.0.4")
	tests := []struct {
		rule SecurityRule
		want string
		ok   bool
	}{
		{SecurityRule{Protocol: "Tcp", DestinationPortRange: "8080", DestinationAddressPrefix: "Internet"}, "TCP 10.224.0.4 -> 192.0.2.200:8080", true},
		{SecurityRule{Protocol: "*", DestinationPortRange: "*", DestinationAddressPrefix: "*"}, "TCP 10.224.0.4 -> 192.0.2.200:443", true},
		{SecurityRule{Protocol: "Udp", DestinationPortRanges: []string{"5000-5010"}, DestinationAddressPrefixes: []string{"198.51.100.0/24"}}, "UDP 10.224.0.4 -> 198.51.100.1:5000", true},
		{SecurityRule{Protocol: "Tcp", DestinationPortRange: "443", DestinationAddressPrefix: "AzureCloud"}, "", false},
	}
	for _, tt := range tests {
		f, ok := SampleFlow(tt.rule, src)
		if ok != tt.ok || (ok && f.String() != tt.want) {
			t.Errorf("SampleFlow(%+v): got %q, %v; want %q, %v", tt.rule, f, ok, tt.want, tt.ok)
		}
	}
}
