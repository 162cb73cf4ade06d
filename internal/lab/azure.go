package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

func (l *Lab) writeAzure() error {
	files := map[string]any{
		"route-table.json": l.azRouteTable(),
		"nsg.json":         l.azNSG(),
		"aks.json":         l.azAKS(),
		"lb.json":          l.azLB(),
		"public-ip.json":   l.azPublicIP(),
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(l.state.AzureDir, name), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// Azure identifiers of the lab's pretend cluster.
const (
	azSubscription  = "00000000-0000-0000-0000-000000000000"
	azResourceGroup = "ndlab-rg"
	azCluster       = "ndlab"
	azLocation      = "westeurope"
	azNodeRG        = "MC_ndlab-rg_ndlab_westeurope"
	azRouteTable    = "aks-agentpool-12345678-routetable"
	azNSGName       = "aks-agentpool-12345678-nsg"
	azVNet          = "aks-vnet-12345678"
	azSubnet        = "aks-subnet"
	azPublicIPName  = "5a3e1c2b-0f1d-4c55-9a7e-1f2e3d4c5b6a"
	azFrontendName  = "5a3e1c2b-0f1d-4c55-9a7e-1f2e3d4c5b6a"
)

func azID(rg, provider, rest string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", azSubscription, rg, provider, rest)
}

type obj = map[string]any

func (l *Lab) subnetID() string {
	return azID(azNodeRG, "Microsoft.Network", "virtualNetworks/"+azVNet+"/subnets/"+azSubnet)
}

// azRouteTable is `az network route-table show -o json` of the kubenet route
// table: one route per node's pod CIDR, plus a 0.0.0.0/0 user-defined route
// to the NVA when a UDR fault is on.
func (l *Lab) azRouteTable() obj {
	rtID := azID(azNodeRG, "Microsoft.Network", "routeTables/"+azRouteTable)
	routes := []obj{}
	if l.state.Config.Network == "kubenet" {
		for _, n := range l.state.Nodes {
			if f, ok := l.state.Faults["kubenet-route-missing"]; ok && f.Target == n.Name {
				continue
			}
			routes = append(routes, obj{
				"addressPrefix": n.PodCIDR, "etag": `W/"00000000-0000-0000-0000-000000000001"`,
				"hasBgpOverride": false, "id": rtID + "/routes/" + n.Name, "name": n.Name,
				"nextHopIpAddress": n.IP, "nextHopType": "VirtualAppliance",
				"provisioningState": "Succeeded", "resourceGroup": azNodeRG,
				"type": "Microsoft.Network/routeTables/routes",
			})
		}
	}
	if l.udrOn() {
		routes = append(routes, obj{
			"addressPrefix": "0.0.0.0/0", "etag": `W/"00000000-0000-0000-0000-000000000001"`,
			"hasBgpOverride": false, "id": rtID + "/routes/default-to-nva", "name": "default-to-nva",
			"nextHopIpAddress": NVAIP, "nextHopType": "VirtualAppliance",
			"provisioningState": "Succeeded", "resourceGroup": azNodeRG,
			"type": "Microsoft.Network/routeTables/routes",
		})
	}
	return obj{
		"disableBgpRoutePropagation": false, "etag": `W/"00000000-0000-0000-0000-000000000001"`,
		"id": rtID, "location": azLocation, "name": azRouteTable, "provisioningState": "Succeeded",
		"resourceGroup": azNodeRG, "resourceGuid": "3f0a7c1e-2b4d-4e6f-8a9b-0c1d2e3f4a5b",
		"routes": routes, "subnets": []obj{{"id": l.subnetID(), "resourceGroup": azNodeRG}},
		"tags": obj{}, "type": "Microsoft.Network/routeTables",
	}
}

func (l *Lab) udrOn() bool {
	_, a := l.state.Faults["udr-blackhole"]
	_, b := l.state.Faults["http-proxy-error"]
	return a || b
}

func nsgRule(nsgID, name string, priority int, direction, access, protocol, dst, dstPort string) obj {
	return obj{
		"access": access, "destinationAddressPrefix": dst, "destinationAddressPrefixes": []string{},
		"destinationPortRange": dstPort, "destinationPortRanges": []string{}, "direction": direction,
		"etag": `W/"00000000-0000-0000-0000-000000000002"`, "id": nsgID + "/securityRules/" + name,
		"name": name, "priority": priority, "protocol": protocol, "provisioningState": "Succeeded",
		"resourceGroup": azNodeRG, "sourceAddressPrefix": "*", "sourceAddressPrefixes": []string{},
		"sourcePortRange": "*", "sourcePortRanges": []string{},
		"type": "Microsoft.Network/networkSecurityGroups/securityRules",
	}
}

// azNSG is `az network nsg show -o json` of the node subnet's NSG.
func (l *Lab) azNSG() obj {
	id := azID(azNodeRG, "Microsoft.Network", "networkSecurityGroups/"+azNSGName)
	rules := []obj{}
	if f, ok := l.state.Faults["nsg-deny"]; ok {
		rules = append(rules, nsgRule(id, fmt.Sprintf("DenyOutbound-%s-%d", f.Options.Protocol, f.Options.Port), 100, "Outbound", "Deny",
			azProto(f.Options.Protocol), "Internet", fmt.Sprint(f.Options.Port)))
	}
	if _, ok := l.state.Faults["upstream-dns-blocked"]; ok {
		rules = append(rules, nsgRule(id, "DenyOutboundDNS", 110, "Outbound", "Deny", "*", UpstreamDNSIP+"/32", "53"))
	}
	def := func(name string, prio int, dir, access, src, dst string) obj {
		r := nsgRule(id, name, prio, dir, access, "*", dst, "*")
		r["sourceAddressPrefix"] = src
		r["id"] = id + "/defaultSecurityRules/" + name
		r["type"] = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
		r["description"] = ""
		return r
	}
	return obj{
		"defaultSecurityRules": []obj{
			def("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
			def("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
			def("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
			def("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
			def("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
			def("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
		},
		"etag": `W/"00000000-0000-0000-0000-000000000002"`, "id": id, "location": azLocation, "name": azNSGName,
		"provisioningState": "Succeeded", "resourceGroup": azNodeRG, "resourceGuid": "7c2d9e4f-1a3b-4c5d-8e6f-9a0b1c2d3e4f",
		"securityRules": rules, "subnets": []obj{{"id": l.subnetID(), "resourceGroup": azNodeRG}},
		"type": "Microsoft.Network/networkSecurityGroups",
	}
}

func azProto(p string) string {
	switch p {
	case "udp":
		return "Udp"
	case "tcp":
		return "Tcp"
	}
	return "*"
}

func (l *Lab) outboundType() string {
	if l.udrOn() {
		return "userDefinedRouting"
	}
	return "loadBalancer"
}

// allocatedPorts is the outbound rule's allocatedOutboundPorts: 0 means the
// default table by pool size; a SNAT fault sets it small.
func (l *Lab) allocatedPorts() int {
	if f, ok := l.state.Faults["snat-exhaustion"]; ok {
		return f.Options.Ports
	}
	return 0
}

// azAKS is `az aks show -o json` (the fields netdoctor reads).
func (l *Lab) azAKS() obj {
	plugin := "kubenet"
	podCidr := any(ClusterCIDR)
	if l.state.Config.Network == "azure-cni" {
		plugin, podCidr = "azure", nil
	}
	np := obj{
		"networkPlugin": plugin, "networkPolicy": nil, "networkMode": nil, "networkDataplane": nil,
		"podCidr": podCidr, "podCidrs": nil, "serviceCidr": ServiceCIDR, "serviceCidrs": []string{ServiceCIDR},
		"dnsServiceIp": ClusterDNSIP, "outboundType": l.outboundType(), "loadBalancerSku": "standard",
		"ipFamilies": []string{"IPv4"}, "natGatewayProfile": nil,
	}
	if l.outboundType() == "loadBalancer" {
		np["loadBalancerProfile"] = obj{
			"allocatedOutboundPorts": l.allocatedPorts(), "backendPoolType": "nodeIPConfiguration",
			"effectiveOutboundIPs":                []obj{{"id": azID(azNodeRG, "Microsoft.Network", "publicIPAddresses/"+azPublicIPName), "resourceGroup": azNodeRG}},
			"enableMultipleStandardLoadBalancers": nil, "idleTimeoutInMinutes": 30,
			"managedOutboundIPs": obj{"count": 1, "countIpv6": nil}, "outboundIPs": nil, "outboundIpPrefixes": nil,
		}
	} else {
		np["loadBalancerProfile"] = nil
	}
	nodes := len(l.state.Nodes)
	return obj{
		"id":   azID(azResourceGroup, "Microsoft.ContainerService", "managedClusters/"+azCluster),
		"name": azCluster, "location": azLocation, "resourceGroup": azResourceGroup,
		"kubernetesVersion": KubernetesVersion[1:], "currentKubernetesVersion": KubernetesVersion[1:],
		"dnsPrefix": "ndlab-dns", "fqdn": "ndlab-dns-abcdef12.hcp.westeurope.azmk8s.io",
		"nodeResourceGroup": azNodeRG, "provisioningState": "Succeeded", "powerState": obj{"code": "Running"},
		"networkProfile": np,
		"agentPoolProfiles": []obj{{
			"name": "nodepool1", "count": nodes, "vmSize": "Standard_D2s_v3", "osType": "Linux", "osSKU": "Ubuntu",
			"mode": "System", "type": "VirtualMachineScaleSets", "maxPods": 110, "vnetSubnetId": l.subnetID(),
			"orchestratorVersion": KubernetesVersion[1:], "provisioningState": "Succeeded", "powerState": obj{"code": "Running"},
		}},
		"type": "Microsoft.ContainerService/ManagedClusters",
	}
}

// azLB is `az network lb show -o json` of the cluster's "kubernetes" load
// balancer, with its outbound rule.
func (l *Lab) azLB() obj {
	id := azID(azNodeRG, "Microsoft.Network", "loadBalancers/kubernetes")
	fe := id + "/frontendIPConfigurations/" + azFrontendName
	pool := id + "/backendAddressPools/kubernetes"
	var backends []obj
	for _, n := range l.state.Nodes {
		backends = append(backends, obj{"id": azID(azNodeRG, "Microsoft.Compute",
			fmt.Sprintf("virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/%d/networkInterfaces/aks-nodepool1-12345678-vmss/ipConfigurations/ipconfig1", n.Index)),
			"resourceGroup": azNodeRG})
	}
	return obj{
		"id": id, "name": "kubernetes", "location": azLocation, "resourceGroup": azNodeRG,
		"sku": obj{"name": "Standard", "tier": "Regional"}, "provisioningState": "Succeeded",
		"frontendIPConfigurations": []obj{{
			"id": fe, "name": azFrontendName, "privateIPAllocationMethod": "Dynamic", "provisioningState": "Succeeded",
			"publicIPAddress": obj{"id": azID(azNodeRG, "Microsoft.Network", "publicIPAddresses/"+azPublicIPName), "resourceGroup": azNodeRG},
			"outboundRules":   []obj{{"id": id + "/outboundRules/aksOutboundRule", "resourceGroup": azNodeRG}},
			"resourceGroup":   azNodeRG, "type": "Microsoft.Network/loadBalancers/frontendIPConfigurations",
		}},
		"backendAddressPools": []obj{{
			"id": pool, "name": "kubernetes", "backendIPConfigurations": backends, "provisioningState": "Succeeded",
			"outboundRules": []obj{{"id": id + "/outboundRules/aksOutboundRule", "resourceGroup": azNodeRG}},
			"resourceGroup": azNodeRG, "type": "Microsoft.Network/loadBalancers/backendAddressPools",
		}},
		"outboundRules": []obj{{
			"id": id + "/outboundRules/aksOutboundRule", "name": "aksOutboundRule",
			"allocatedOutboundPorts": l.allocatedPorts(), "enableTcpReset": true, "idleTimeoutInMinutes": 30,
			"protocol": "All", "provisioningState": "Succeeded", "resourceGroup": azNodeRG,
			"frontendIPConfigurations": []obj{{"id": fe, "resourceGroup": azNodeRG}},
			"backendAddressPool":       obj{"id": pool, "resourceGroup": azNodeRG},
			"type":                     "Microsoft.Network/loadBalancers/outboundRules",
		}},
		"loadBalancingRules": []obj{}, "probes": []obj{}, "inboundNatRules": []obj{},
		"type": "Microsoft.Network/loadBalancers",
	}
}

// azPublicIP is `az network public-ip show -o json` of the outbound IP.
func (l *Lab) azPublicIP() obj {
	return obj{
		"id":   azID(azNodeRG, "Microsoft.Network", "publicIPAddresses/"+azPublicIPName),
		"name": azPublicIPName, "location": azLocation, "resourceGroup": azNodeRG,
		"ipAddress": OutboundIP, "publicIPAddressVersion": "IPv4", "publicIPAllocationMethod": "Static",
		"idleTimeoutInMinutes": 4, "provisioningState": "Succeeded",
		"sku":             obj{"name": "Standard", "tier": "Regional"},
		"ipConfiguration": obj{"id": azID(azNodeRG, "Microsoft.Network", "loadBalancers/kubernetes/frontendIPConfigurations/"+azFrontendName), "resourceGroup": azNodeRG},
		"type":            "Microsoft.Network/publicIPAddresses",
	}
}
