package azure

import (
	"strings"
)

// Resource types as ARM and az print them in the "type" field (compared
// case-insensitively: az prints "Microsoft.ContainerService/ManagedClusters").
const (
	TypeManagedCluster = "Microsoft.ContainerService/managedClusters"
	TypeLoadBalancer   = "Microsoft.Network/loadBalancers"
	TypeNATGateway     = "Microsoft.Network/natGateways"
	TypeRouteTable     = "Microsoft.Network/routeTables"
	TypeNSG            = "Microsoft.Network/networkSecurityGroups"
	TypeSubnet         = "Microsoft.Network/virtualNetworks/subnets"
	TypeMetrics        = "Microsoft.Insights/metrics"
	TypePublicIP       = "Microsoft.Network/publicIPAddresses"
	TypeVirtualNetwork = "Microsoft.Network/virtualNetworks"
)

// Outbound types of an AKS cluster (networkProfile.outboundType).
const (
	OutboundLoadBalancer           = "loadBalancer"
	OutboundUserDefinedRouting     = "userDefinedRouting"
	OutboundManagedNATGateway      = "managedNATGateway"
	OutboundUserAssignedNATGateway = "userAssignedNATGateway"
	OutboundNone                   = "none"
)

// SubResource is a reference to another resource by ID.
type SubResource struct {
	ID string `json:"id"`
}

// Name returns the last segment of the referenced ID.
func (r SubResource) Name() string { return lastSegment(r.ID) }

// SKU is a resource's SKU.
type SKU struct {
	Name string `json:"name"`
	Tier string `json:"tier,omitempty"`
}

// ManagedCluster is an AKS cluster (`az aks show`).
type ManagedCluster struct {
	ID                string             `json:"id"`
	Name              string             `json:"name"`
	Type              string             `json:"type"`
	Location          string             `json:"location"`
	NodeResourceGroup string             `json:"nodeResourceGroup"`
	AgentPoolProfiles []AgentPoolProfile `json:"agentPoolProfiles"`
	NetworkProfile    NetworkProfile     `json:"networkProfile"`
}

// AgentPoolProfile is one node pool of a managed cluster.
type AgentPoolProfile struct {
	Name              string           `json:"name"`
	Count             int              `json:"count"`
	MinCount          *int             `json:"minCount"`
	MaxCount          *int             `json:"maxCount"`
	EnableAutoScaling bool             `json:"enableAutoScaling"`
	Mode              string           `json:"mode"`
	OSType            string           `json:"osType"`
	VnetSubnetID      string           `json:"vnetSubnetID"`
	UpgradeSettings   *UpgradeSettings `json:"upgradeSettings"`
}

// UpgradeSettings holds a node pool's surge setting ("1", "33%").
type UpgradeSettings struct {
	MaxSurge string `json:"maxSurge"`
}

// NetworkProfile is a managed cluster's networkProfile.
type NetworkProfile struct {
	NetworkPlugin       string               `json:"networkPlugin"`
	NetworkPluginMode   string               `json:"networkPluginMode"`
	NetworkPolicy       string               `json:"networkPolicy"`
	OutboundType        string               `json:"outboundType"`
	PodCidr             string               `json:"podCidr"`
	ServiceCidr         string               `json:"serviceCidr"`
	LoadBalancerSku     string               `json:"loadBalancerSku"`
	LoadBalancerProfile *LoadBalancerProfile `json:"loadBalancerProfile"`
	NatGatewayProfile   *NatGatewayProfile   `json:"natGatewayProfile"`
}

// LoadBalancerProfile is the AKS-managed load balancer's outbound settings.
// AllocatedOutboundPorts 0 (or null) means the default allocation table.
type LoadBalancerProfile struct {
	AllocatedOutboundPorts int           `json:"allocatedOutboundPorts"`
	IdleTimeoutInMinutes   int           `json:"idleTimeoutInMinutes"`
	ManagedOutboundIPs     *IPCount      `json:"managedOutboundIPs"`
	OutboundIPs            *OutboundIPs  `json:"outboundIPs"`
	OutboundIPPrefixes     *OutboundPfxs `json:"outboundIPPrefixes"`
	EffectiveOutboundIPs   []SubResource `json:"effectiveOutboundIPs"`
}

// IPCount is a count of managed outbound IPs.
type IPCount struct {
	Count int `json:"count"`
}

// OutboundIPs lists user-provided public IPs.
type OutboundIPs struct {
	PublicIPs []SubResource `json:"publicIPs"`
}

// OutboundPfxs lists user-provided public IP prefixes.
type OutboundPfxs struct {
	PublicIPPrefixes []SubResource `json:"publicIPPrefixes"`
}

// NatGatewayProfile is the AKS-managed NAT gateway's settings.
type NatGatewayProfile struct {
	IdleTimeoutInMinutes     int           `json:"idleTimeoutInMinutes"`
	ManagedOutboundIPProfile *IPCount      `json:"managedOutboundIPProfile"`
	EffectiveOutboundIPs     []SubResource `json:"effectiveOutboundIPs"`
}

// OutboundIPCount is the number of public IPs the cluster's load balancer
// profile uses for outbound traffic: the effective list when present, else
// the managed count, else the user-given IPs; 0 when unknown.
func (p *LoadBalancerProfile) OutboundIPCount() int {
	if p == nil {
		return 0
	}
	if n := len(p.EffectiveOutboundIPs); n > 0 {
		return n
	}
	if p.ManagedOutboundIPs != nil && p.ManagedOutboundIPs.Count > 0 {
		return p.ManagedOutboundIPs.Count
	}
	if p.OutboundIPs != nil {
		return len(p.OutboundIPs.PublicIPs)
	}
	return 0
}

// LoadBalancer is an Azure load balancer (`az network lb show`).
type LoadBalancer struct {
	ID                       string                    `json:"id"`
	Name                     string                    `json:"name"`
	Type                     string                    `json:"type"`
	SKU                      SKU                       `json:"sku"`
	FrontendIPConfigurations []FrontendIPConfiguration `json:"frontendIPConfigurations"`
	BackendAddressPools      []BackendAddressPool      `json:"backendAddressPools"`
	OutboundRules            []OutboundRule            `json:"outboundRules"`
	LoadBalancingRules       []LoadBalancingRule       `json:"loadBalancingRules"`
}

// FrontendIPConfiguration is one frontend of a load balancer.
type FrontendIPConfiguration struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	PrivateIPAddress string       `json:"privateIPAddress"`
	PublicIPAddress  *SubResource `json:"publicIPAddress"`
	PublicIPPrefix   *SubResource `json:"publicIPPrefix"`
}

// BackendAddressPool is one backend pool of a load balancer.
type BackendAddressPool struct {
	ID                           string           `json:"id"`
	Name                         string           `json:"name"`
	BackendIPConfigurations      []SubResource    `json:"backendIPConfigurations"`
	LoadBalancerBackendAddresses []BackendAddress `json:"loadBalancerBackendAddresses"`
}

// BackendAddress is one member of an IP-based backend pool.
type BackendAddress struct {
	Name                            string       `json:"name"`
	IPAddress                       string       `json:"ipAddress"`
	NetworkInterfaceIPConfiguration *SubResource `json:"networkInterfaceIPConfiguration"`
}

// Size is the number of members of the pool.
func (p BackendAddressPool) Size() int {
	if n := len(p.LoadBalancerBackendAddresses); n > 0 {
		return n
	}
	return len(p.BackendIPConfigurations)
}

// OutboundRule is a load balancer outbound (SNAT) rule.
// AllocatedOutboundPorts 0 means the default allocation table.
type OutboundRule struct {
	ID                       string        `json:"id"`
	Name                     string        `json:"name"`
	AllocatedOutboundPorts   int           `json:"allocatedOutboundPorts"`
	IdleTimeoutInMinutes     int           `json:"idleTimeoutInMinutes"`
	Protocol                 string        `json:"protocol"`
	EnableTCPReset           bool          `json:"enableTcpReset"`
	FrontendIPConfigurations []SubResource `json:"frontendIPConfigurations"`
	BackendAddressPool       SubResource   `json:"backendAddressPool"`
}

// LoadBalancingRule is an inbound load-balancing rule; DisableOutboundSnat
// tells whether it also gives its backends outbound SNAT.
type LoadBalancingRule struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	DisableOutboundSnat bool   `json:"disableOutboundSnat"`
}

// NATGateway is an Azure NAT gateway (`az network nat gateway show`).
// IdleTimeoutInMinutes 0 means the default (4).
type NATGateway struct {
	ID                   string        `json:"id"`
	Name                 string        `json:"name"`
	Type                 string        `json:"type"`
	SKU                  SKU           `json:"sku"`
	IdleTimeoutInMinutes int           `json:"idleTimeoutInMinutes"`
	PublicIPAddresses    []SubResource `json:"publicIpAddresses"`
	PublicIPPrefixes     []SubResource `json:"publicIpPrefixes"`
	Subnets              []SubResource `json:"subnets"`
}

// RouteTable is an Azure route table (`az network route-table show`).
type RouteTable struct {
	ID                         string        `json:"id"`
	Name                       string        `json:"name"`
	Type                       string        `json:"type"`
	DisableBgpRoutePropagation bool          `json:"disableBgpRoutePropagation"`
	Routes                     []Route       `json:"routes"`
	Subnets                    []SubResource `json:"subnets"`
}

// Route is one user-defined route.
type Route struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	AddressPrefix    string `json:"addressPrefix"`
	NextHopType      string `json:"nextHopType"`
	NextHopIPAddress string `json:"nextHopIpAddress"`
}

// Route next hop types.
const (
	NextHopVirtualAppliance      = "VirtualAppliance"
	NextHopInternet              = "Internet"
	NextHopVnetLocal             = "VnetLocal"
	NextHopNone                  = "None"
	NextHopVirtualNetworkGateway = "VirtualNetworkGateway"
)

// NSG is a network security group (`az network nsg show`).
type NSG struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Type                 string         `json:"type"`
	SecurityRules        []SecurityRule `json:"securityRules"`
	DefaultSecurityRules []SecurityRule `json:"defaultSecurityRules"`
	Subnets              []SubResource  `json:"subnets"`
	NetworkInterfaces    []SubResource  `json:"networkInterfaces"`
}

// SecurityRule is one NSG rule. The singular and plural forms of prefixes
// and port ranges are alternatives; both are honoured.
type SecurityRule struct {
	ID                                   string        `json:"id"`
	Name                                 string        `json:"name"`
	Description                          string        `json:"description,omitempty"`
	Protocol                             string        `json:"protocol"`
	SourcePortRange                      string        `json:"sourcePortRange,omitempty"`
	SourcePortRanges                     []string      `json:"sourcePortRanges,omitempty"`
	DestinationPortRange                 string        `json:"destinationPortRange,omitempty"`
	DestinationPortRanges                []string      `json:"destinationPortRanges,omitempty"`
	SourceAddressPrefix                  string        `json:"sourceAddressPrefix,omitempty"`
	SourceAddressPrefixes                []string      `json:"sourceAddressPrefixes,omitempty"`
	DestinationAddressPrefix             string        `json:"destinationAddressPrefix,omitempty"`
	DestinationAddressPrefixes           []string      `json:"destinationAddressPrefixes,omitempty"`
	SourceApplicationSecurityGroups      []SubResource `json:"sourceApplicationSecurityGroups,omitempty"`
	DestinationApplicationSecurityGroups []SubResource `json:"destinationApplicationSecurityGroups,omitempty"`
	Access                               string        `json:"access"`
	Priority                             int           `json:"priority"`
	Direction                            string        `json:"direction"`
}

// PublicIP is a public IP address (`az network public-ip show`).
type PublicIP struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	Type                 string `json:"type"`
	IPAddress            string `json:"ipAddress"`
	IdleTimeoutInMinutes int    `json:"idleTimeoutInMinutes"`
}

// VirtualNetwork is a virtual network (`az network vnet show`): its address
// space and its peerings' make up the VirtualNetwork service tag.
type VirtualNetwork struct {
	ID                     string        `json:"id"`
	Name                   string        `json:"name"`
	Type                   string        `json:"type"`
	AddressSpace           AddressSpace  `json:"addressSpace"`
	Subnets                []Subnet      `json:"subnets"`
	VirtualNetworkPeerings []VNetPeering `json:"virtualNetworkPeerings"`
}

// AddressSpace lists address prefixes.
type AddressSpace struct {
	AddressPrefixes []string `json:"addressPrefixes"`
}

// VNetPeering is a peering to another virtual network.
type VNetPeering struct {
	Name               string       `json:"name"`
	PeeringState       string       `json:"peeringState"`
	RemoteAddressSpace AddressSpace `json:"remoteAddressSpace"`
}

// Subnet is a virtual network subnet (`az network vnet subnet show`).
type Subnet struct {
	ID                   string        `json:"id"`
	Name                 string        `json:"name"`
	Type                 string        `json:"type"`
	AddressPrefix        string        `json:"addressPrefix"`
	AddressPrefixes      []string      `json:"addressPrefixes"`
	NetworkSecurityGroup *SubResource  `json:"networkSecurityGroup"`
	RouteTable           *SubResource  `json:"routeTable"`
	NatGateway           *SubResource  `json:"natGateway"`
	IPConfigurations     []SubResource `json:"ipConfigurations"`
}

// Prefixes returns the subnet's address prefixes.
func (s Subnet) Prefixes() []string {
	if len(s.AddressPrefixes) > 0 {
		return s.AddressPrefixes
	}
	if s.AddressPrefix != "" {
		return []string{s.AddressPrefix}
	}
	return nil
}

// lastSegment returns the part of an ARM ID after its last slash.
func lastSegment(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

// SameID compares two ARM resource IDs; ARM IDs are case-insensitive.
func SameID(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// ResourceID is a parsed ARM resource ID.
type ResourceID struct {
	Subscription  string
	ResourceGroup string
	Provider      string
	// Types and Names are the resource type/name pairs after the provider,
	// e.g. ["virtualMachineScaleSets" "virtualMachines"], ["aks-np-1-vmss" "0"].
	Types []string
	Names []string
}

// ParseResourceID parses "/subscriptions/S/resourceGroups/G/providers/P/T/N[/T/N...]".
// Segment names are matched case-insensitively, as ARM does.
func ParseResourceID(id string) (ResourceID, bool) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	var r ResourceID
	i := 0
	for i+1 < len(parts) {
		k, v := strings.ToLower(parts[i]), parts[i+1]
		switch {
		case k == "subscriptions" && r.Subscription == "":
			r.Subscription = v
		case k == "resourcegroups" && r.ResourceGroup == "":
			r.ResourceGroup = v
		case k == "providers" && r.Provider == "":
			r.Provider = v
			for j := i + 2; j+1 < len(parts); j += 2 {
				r.Types = append(r.Types, parts[j])
				r.Names = append(r.Names, parts[j+1])
			}
			return r, r.Subscription != "" && r.ResourceGroup != ""
		default:
			return r, false
		}
		i += 2
	}
	return r, r.Subscription != "" && r.ResourceGroup != ""
}

// ParseProviderID parses a Kubernetes node's spec.providerID of the form
// "azure:///subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/...".
func ParseProviderID(providerID string) (ResourceID, bool) {
	rest, ok := strings.CutPrefix(providerID, "azure://")
	if !ok {
		return ResourceID{}, false
	}
	return ParseResourceID(rest)
}
