package azure

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, names ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		files[Dir+filepath.Base(n)] = b
	}
	return files
}

func TestLoadRESTExamples(t *testing.T) {
	set, errs := Load(readTestdata(t, "rest/NetworkSecurityGroupGet.json", "rest/RouteTableGet.json",
		"rest/NatGatewayGet.json", "rest/LoadBalancerCreateWithOutboundRules.json"))
	if len(errs) > 0 {
		t.Fatalf("Load: %v", errs)
	}
	if got := len(set.NSGs); got != 1 {
		t.Fatalf("NSGs: got %d, want 1", got)
	}
	nsg := set.NSGs[0]
	if nsg.Name != "testnsg" || len(nsg.SecurityRules) != 1 || len(nsg.DefaultSecurityRules) != 6 {
		t.Errorf("NSG: got name %q, %d rules, %d default rules; want testnsg, 1, 6", nsg.Name, len(nsg.SecurityRules), len(nsg.DefaultSecurityRules))
	}
	if r := nsg.SecurityRules[0]; r.DestinationPortRange != "80" || r.Priority != 130 || r.Direction != "Inbound" || r.Access != "Allow" {
		t.Errorf("rule1: got %+v", r)
	}
	rt := set.RouteTables[0]
	if len(rt.Routes) != 1 || rt.Routes[0].AddressPrefix != "10.0.3.0/24" || rt.Routes[0].NextHopType != NextHopVirtualNetworkGateway {
		t.Errorf("route table: got %+v", rt)
	}
	ng := set.NATGateways[0]
	if ng.IdleTimeoutInMinutes != 5 || len(ng.PublicIPAddresses) != 1 || len(ng.PublicIPPrefixes) != 1 || len(ng.Subnets) != 1 || ng.Subnets[0].Name() != "subnet1" {
		t.Errorf("NAT gateway: got %+v", ng)
	}
	lb := set.LoadBalancers[0]
	if len(lb.OutboundRules) != 1 {
		t.Fatalf("outbound rules: got %d, want 1", len(lb.OutboundRules))
	}
	or := lb.OutboundRules[0]
	if or.AllocatedOutboundPorts != 1024 || or.IdleTimeoutInMinutes != 4 || or.Protocol != "All" || len(or.FrontendIPConfigurations) != 1 || or.BackendAddressPool.Name() != "be-lb" {
		t.Errorf("outbound rule: got %+v", or)
	}
	if !lb.LoadBalancingRules[0].DisableOutboundSnat {
		t.Errorf("rulelb: got disableOutboundSnat false, want true")
	}
	if lb.FrontendIPConfigurations[0].PublicIPAddress == nil || lb.FrontendIPConfigurations[0].PublicIPAddress.Name() != "pip" {
		t.Errorf("frontend: got %+v", lb.FrontendIPConfigurations[0])
	}
}

func TestLoadAzCLIOutput(t *testing.T) {
	set, errs := Load(readTestdata(t, "az/aks-show-kubenet.json", "az/aks-show-azurecni.json", "az/metrics-snat.json"))
	if len(errs) > 0 {
		t.Fatalf("Load: %v", errs)
	}
	if got := len(set.Clusters); got != 2 {
		t.Fatalf("clusters: got %d, want 2", got)
	}
	byName := map[string]ManagedCluster{}
	for _, c := range set.Clusters {
		byName[c.Name] = c
	}
	tests := []struct {
		name              string
		plugin, outbound  string
		ips, nodes, surge int
		autoscale         bool
	}{
		{"aks-cluster-taeeyoul", "kubenet", OutboundLoadBalancer, 1, 3, 1, false},
		{"aks-urbalurba-sandbox", "azure", OutboundLoadBalancer, 1, 3, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := byName[tt.name]
			if !ok {
				t.Fatalf("cluster %s not loaded", tt.name)
			}
			np := c.NetworkProfile
			if np.NetworkPlugin != tt.plugin || np.OutboundType != tt.outbound {
				t.Errorf("network profile: got plugin %q outbound %q, want %q %q", np.NetworkPlugin, np.OutboundType, tt.plugin, tt.outbound)
			}
			if got := np.LoadBalancerProfile.OutboundIPCount(); got != tt.ips {
				t.Errorf("outbound IPs: got %d, want %d", got, tt.ips)
			}
			if np.LoadBalancerProfile.AllocatedOutboundPorts != 0 {
				t.Errorf("allocatedOutboundPorts: got %d, want 0 (null)", np.LoadBalancerProfile.AllocatedOutboundPorts)
			}
			nodes, surge, err := c.ValidationNodes()
			if err != nil || nodes != tt.nodes || surge != tt.surge {
				t.Errorf("ValidationNodes: got %d, %d, %v; want %d, %d", nodes, surge, err, tt.nodes, tt.surge)
			}
			if c.AgentPoolProfiles[0].EnableAutoScaling != tt.autoscale {
				t.Errorf("enableAutoScaling: got %v, want %v", c.AgentPoolProfiles[0].EnableAutoScaling, tt.autoscale)
			}
		})
	}
	if len(set.Metrics) != 1 || len(set.Metrics[0].Value) != 3 {
		t.Fatalf("metrics: got %+v", set.Metrics)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{"syntax error names file and line", "azure/nsg.json", "{\n  \"name\": \"x\",\n  \"type\": \n}", "azure/nsg.json:4: invalid JSON"},
		{"truncated", "azure/lb.json", "{\n  \"name\": \"x\",", "azure/lb.json:2: invalid JSON: unexpected end of input"},
		{"wrong type names field", "azure/rt.json", `{"type":"Microsoft.Network/routeTables","properties":{"routes":[{"name":"r","properties":{"addressPrefix":5}}]}}`, `azure/rt.json: field "routes.addressPrefix"`},
		{"unknown kind", "azure/thing.json", `{"name":"x"}`, `azure/thing.json: unknown resource`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := Load(map[string][]byte{tt.file: []byte(tt.data)})
			if len(errs) != 1 {
				t.Fatalf("got %d errors (%v), want 1", len(errs), errs)
			}
			if got := errs[0].Error(); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestLoadArrayAndNameFallback(t *testing.T) {
	files := map[string][]byte{
		// `az network nsg list` prints an array.
		"azure/nsgs.json": []byte(`[{"name":"a","type":"Microsoft.Network/networkSecurityGroups"},{"name":"b","type":"microsoft.network/networksecuritygroups"}]`),
		// no type: classified by file name.
		"azure/route-table.json": []byte(`{"name":"rt","routes":[{"name":"default","addressPrefix":"0.0.0.0/0","nextHopType":"VirtualAppliance","nextHopIpAddress":"10.0.2.4"}]}`),
		"other/ignored.json":     []byte(`not json`),
	}
	set, errs := Load(files)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(set.NSGs) != 2 || len(set.RouteTables) != 1 || set.RouteTables[0].Routes[0].NextHopIPAddress != "10.0.2.4" {
		t.Errorf("got %d NSGs, %+v", len(set.NSGs), set.RouteTables)
	}
}

func TestParseProviderID(t *testing.T) {
	// A real AKS node's spec.providerID.
	id := "azure:///subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/mc_rg_aks1_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-22064185-vmss/virtualMachines/0"
	r, ok := ParseProviderID(id)
	if !ok {
		t.Fatal("not parsed")
	}
	if r.Subscription != "0b1f6471-1bf0-4dda-aec3-111122223333" || r.ResourceGroup != "mc_rg_aks1_westeurope" || r.Provider != "Microsoft.Compute" {
		t.Errorf("got %+v", r)
	}
	if len(r.Names) != 2 || r.Names[0] != "aks-nodepool1-22064185-vmss" || r.Names[1] != "0" {
		t.Errorf("names: got %v", r.Names)
	}
	for _, bad := range []string{"", "kind://docker/x", "aws:///eu-west-1a/i-0123", "azure:///subscriptions/x"} {
		if _, ok := ParseProviderID(bad); ok {
			t.Errorf("ParseProviderID(%q): got ok, want not ok", bad)
		}
	}
}

func TestLoadIgnoresOtherTypes(t *testing.T) {
	set, errs := Load(map[string][]byte{
		"azure/vm.json":        []byte(`{"type":"Microsoft.Compute/virtualMachines","name":"vm"}`),
		"azure/public-ip.json": []byte(`{"type":"Microsoft.Network/publicIPAddresses","name":"pip","ipAddress":"20.50.1.9","idleTimeoutInMinutes":4}`),
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(set.Ignored) != 1 || set.Ignored[0] != "azure/vm.json: Microsoft.Compute/virtualMachines" {
		t.Errorf("ignored: got %v", set.Ignored)
	}
	if len(set.PublicIPs) != 1 || set.PublicIPs[0].IPAddress != "20.50.1.9" {
		t.Errorf("public IPs: got %+v", set.PublicIPs)
	}
}

func TestVNetPrefixes(t *testing.T) {
	files := map[string][]byte{
		// `az network vnet list` of an AKS-managed VNet, trimmed to what is read.
		"azure/vnets.json": []byte(`[{"type":"Microsoft.Network/virtualNetworks","name":"aks-vnet-22064185",
		  "addressSpace":{"addressPrefixes":["10.224.0.0/12"]},
		  "subnets":[{"id":"/subscriptions/s/resourceGroups/mc/providers/Microsoft.Network/virtualNetworks/aks-vnet-22064185/subnets/aks-subnet","name":"aks-subnet","addressPrefix":"10.224.0.0/16","type":"Microsoft.Network/virtualNetworks/subnets"}],
		  "virtualNetworkPeerings":[
		    {"name":"to-hub","peeringState":"Connected","remoteAddressSpace":{"addressPrefixes":["10.0.0.0/22"]}},
		    {"name":"to-old","peeringState":"Disconnected","remoteAddressSpace":{"addressPrefixes":["172.16.0.0/16"]}}]}]`),
	}
	set, errs := Load(files)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := fmt.Sprint(set.VNetPrefixes()); got != "[10.224.0.0/12 10.0.0.0/22 10.224.0.0/16]" {
		t.Errorf("VNetPrefixes: got %s", got)
	}
	if len(set.Subnets) != 1 || set.Subnets[0].Name != "aks-subnet" || !set.HasVNet() {
		t.Errorf("the VNet's subnets should count as subnets: got %+v", set.Subnets)
	}
}
