package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
)

// Target names the AKS cluster to read.
type Target struct {
	Subscription  string
	ResourceGroup string
	Cluster       string
	// NodeResourceGroup finds the cluster when ResourceGroup and Cluster
	// are empty: the cluster whose nodeResourceGroup it is (from the nodes'
	// providerID).
	NodeResourceGroup string
}

// Skip records a resource the live collector could not read.
type Skip struct {
	Resource string
	Reason   string
}

// ClientOptions configures the ARM clients of each SDK module (tests point
// their transports at the SDK's fake servers).
type ClientOptions struct {
	ContainerService *arm.ClientOptions
	Network          *arm.ClientOptions
	Monitor          *arm.ClientOptions
}

// Live reads the outbound-path resources of a cluster through Azure
// Resource Manager.
type Live struct {
	clusters *armcontainerservice.ManagedClustersClient
	net      *armnetwork.ClientFactory
	metrics  *armmonitor.MetricsClient
	// Now is the clock for the metrics time span.
	Now func() time.Time
	// MetricsWindow is how far back metrics are read (default 1 hour).
	MetricsWindow time.Duration
}

// NewLive builds the clients for a subscription.
func NewLive(subscription string, cred azcore.TokenCredential, opts ClientOptions) (*Live, error) {
	cs, err := armcontainerservice.NewClientFactory(subscription, cred, opts.ContainerService)
	if err != nil {
		return nil, fmt.Errorf("creating the container service client: %w", err)
	}
	nf, err := armnetwork.NewClientFactory(subscription, cred, opts.Network)
	if err != nil {
		return nil, fmt.Errorf("creating the network client: %w", err)
	}
	mc, err := armmonitor.NewMetricsClient(subscription, cred, opts.Monitor)
	if err != nil {
		return nil, fmt.Errorf("creating the metrics client: %w", err)
	}
	return &Live{clusters: cs.NewManagedClustersClient(), net: nf, metrics: mc, Now: time.Now, MetricsWindow: time.Hour}, nil
}

// Collect reads the cluster and the resources on its outbound path: its
// subnets and their virtual networks, the load balancers, NSGs, route tables and NAT gateways of the
// subnets and of the node resource group, and the load balancer's SNAT
// metrics. It returns the JSON of each (REST shape) by bundle path
// (azure/<name>.json). Only failing to read the cluster is an error; any
// other resource that cannot be read is a Skip.
func (l *Live) Collect(ctx context.Context, t Target) (map[string][]byte, []Skip, error) {
	files := map[string][]byte{}
	var skips []Skip
	skip := func(res string, err error) { skips = append(skips, Skip{Resource: res, Reason: err.Error()}) }
	put := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			skip(name, err)
			return
		}
		files[Dir+name+".json"] = append(b, '\n')
	}

	mc, err := l.cluster(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	put("aks", mc)
	props := mc.Properties
	if props == nil || props.NodeResourceGroup == nil {
		skips = append(skips, Skip{"azure/node-resource-group", "the cluster has no nodeResourceGroup"})
		return files, skips, nil
	}
	nodeRG := *props.NodeResourceGroup

	// Subnets: the node pools' vnetSubnetID, else every subnet of the VNets
	// in the node resource group (AKS-managed VNet).
	subnets := map[string]*armnetwork.Subnet{}
	vnets := map[string]*armnetwork.VirtualNetwork{}
	for _, p := range props.AgentPoolProfiles {
		if p == nil || p.VnetSubnetID == nil {
			continue
		}
		id, ok := ParseResourceID(*p.VnetSubnetID)
		if !ok || len(id.Names) < 2 {
			skip("subnet "+*p.VnetSubnetID, errors.New("not a subnet resource ID"))
			continue
		}
		if _, seen := subnets[strings.ToLower(*p.VnetSubnetID)]; seen {
			continue
		}
		res, err := l.net.NewSubnetsClient().Get(ctx, id.ResourceGroup, id.Names[0], id.Names[1], nil)
		if err != nil {
			skip("subnet "+*p.VnetSubnetID, err)
			continue
		}
		subnets[strings.ToLower(*p.VnetSubnetID)] = &res.Subnet
		vkey := strings.ToLower(id.ResourceGroup + "/" + id.Names[0])
		if _, seen := vnets[vkey]; !seen {
			vn, err := l.net.NewVirtualNetworksClient().Get(ctx, id.ResourceGroup, id.Names[0], nil)
			if err != nil {
				skip("virtual network "+id.Names[0], err)
				continue
			}
			vnets[vkey] = &vn.VirtualNetwork
		}
	}
	if len(subnets) == 0 {
		pager := l.net.NewVirtualNetworksClient().NewListPager(nodeRG, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				skip("virtual networks in "+nodeRG, err)
				break
			}
			for _, vn := range page.Value {
				if vn == nil || vn.Properties == nil {
					continue
				}
				vnets[strings.ToLower(nodeRG+"/"+deref(vn.Name))] = vn
				for _, sn := range vn.Properties.Subnets {
					if sn != nil && sn.ID != nil {
						subnets[strings.ToLower(*sn.ID)] = sn
					}
				}
			}
		}
	}
	for _, key := range sortedKeys(vnets) {
		put("vnet-"+deref(vnets[key].Name), vnets[key])
	}
	nsgIDs, rtIDs, natIDs := map[string]string{}, map[string]string{}, map[string]string{}
	for _, key := range sortedKeys(subnets) {
		sn := subnets[key]
		put("subnet-"+deref(sn.Name), sn)
		if sn.Properties == nil {
			continue
		}
		if r := sn.Properties.NetworkSecurityGroup; r != nil && r.ID != nil {
			nsgIDs[strings.ToLower(*r.ID)] = *r.ID
		}
		if r := sn.Properties.RouteTable; r != nil && r.ID != nil {
			rtIDs[strings.ToLower(*r.ID)] = *r.ID
		}
		if r := sn.Properties.NatGateway; r != nil && r.ID != nil {
			natIDs[strings.ToLower(*r.ID)] = *r.ID
		}
	}

	// Resources of the subnets (possibly in another resource group).
	got := map[string]bool{}
	for _, id := range sortedValues(nsgIDs) {
		r, ok := ParseResourceID(id)
		if !ok || len(r.Names) == 0 {
			continue
		}
		res, err := l.net.NewSecurityGroupsClient().Get(ctx, r.ResourceGroup, r.Names[0], nil)
		if err != nil {
			skip("nsg "+id, err)
			continue
		}
		got[strings.ToLower(id)] = true
		put("nsg-"+r.Names[0], res.SecurityGroup)
	}
	for _, id := range sortedValues(rtIDs) {
		r, ok := ParseResourceID(id)
		if !ok || len(r.Names) == 0 {
			continue
		}
		res, err := l.net.NewRouteTablesClient().Get(ctx, r.ResourceGroup, r.Names[0], nil)
		if err != nil {
			skip("route table "+id, err)
			continue
		}
		got[strings.ToLower(id)] = true
		put("route-table-"+r.Names[0], res.RouteTable)
	}
	for _, id := range sortedValues(natIDs) {
		r, ok := ParseResourceID(id)
		if !ok || len(r.Names) == 0 {
			continue
		}
		res, err := l.net.NewNatGatewaysClient().Get(ctx, r.ResourceGroup, r.Names[0], nil)
		if err != nil {
			skip("nat gateway "+id, err)
			continue
		}
		got[strings.ToLower(id)] = true
		put("natgw-"+r.Names[0], res.NatGateway)
	}

	// What AKS keeps in the node resource group.
	var lbs []*armnetwork.LoadBalancer
	lbPager := l.net.NewLoadBalancersClient().NewListPager(nodeRG, nil)
	for lbPager.More() {
		page, err := lbPager.NextPage(ctx)
		if err != nil {
			skip("load balancers in "+nodeRG, err)
			break
		}
		lbs = append(lbs, page.Value...)
	}
	for _, lb := range lbs {
		if lb != nil {
			put("lb-"+deref(lb.Name), lb)
		}
	}
	nsgPager := l.net.NewSecurityGroupsClient().NewListPager(nodeRG, nil)
	for nsgPager.More() {
		page, err := nsgPager.NextPage(ctx)
		if err != nil {
			skip("network security groups in "+nodeRG, err)
			break
		}
		for _, n := range page.Value {
			if n != nil && n.ID != nil && !got[strings.ToLower(*n.ID)] {
				put("nsg-"+deref(n.Name), n)
			}
		}
	}
	rtPager := l.net.NewRouteTablesClient().NewListPager(nodeRG, nil)
	for rtPager.More() {
		page, err := rtPager.NextPage(ctx)
		if err != nil {
			skip("route tables in "+nodeRG, err)
			break
		}
		for _, rt := range page.Value {
			if rt != nil && rt.ID != nil && !got[strings.ToLower(*rt.ID)] {
				put("route-table-"+deref(rt.Name), rt)
			}
		}
	}
	natPager := l.net.NewNatGatewaysClient().NewListPager(nodeRG, nil)
	for natPager.More() {
		page, err := natPager.NextPage(ctx)
		if err != nil {
			skip("nat gateways in "+nodeRG, err)
			break
		}
		for _, ng := range page.Value {
			if ng != nil && ng.ID != nil && !got[strings.ToLower(*ng.ID)] {
				put("natgw-"+deref(ng.Name), ng)
			}
		}
	}

	// SNAT metrics of the load balancers with outbound rules.
	for _, lb := range lbs {
		if lb == nil || lb.ID == nil || lb.Properties == nil || len(lb.Properties.OutboundRules) == 0 {
			continue
		}
		l.lbMetrics(ctx, *lb.ID, deref(lb.Name), put, skip)
	}
	return files, skips, nil
}

// lbMetrics reads the SNAT port metrics per backend IP, and the failed SNAT
// connections.
func (l *Live) lbMetrics(ctx context.Context, lbID, name string, put func(string, any), skip func(string, error)) {
	// The metrics API takes the resource ID without its leading slash.
	uri := strings.TrimPrefix(lbID, "/")
	now := l.Now().UTC()
	span := now.Add(-l.MetricsWindow).Format(time.RFC3339) + "/" + now.Format(time.RFC3339)
	ports, err := l.metrics.List(ctx, uri, &armmonitor.MetricsClientListOptions{
		Metricnames: to.Ptr(MetricAllocatedSnatPorts + "," + MetricUsedSnatPorts),
		Aggregation: to.Ptr("Maximum"),
		Filter:      to.Ptr("BackendIPAddress eq '*'"),
		Interval:    to.Ptr("PT1M"),
		Timespan:    to.Ptr(span),
	})
	if err != nil {
		skip("metrics of "+lbID, err)
	} else {
		put("metrics-snat-ports-"+name, ports.Response)
	}
	conns, err := l.metrics.List(ctx, uri, &armmonitor.MetricsClientListOptions{
		Metricnames: to.Ptr(MetricSnatConnectionCount),
		Aggregation: to.Ptr("Total"),
		Filter:      to.Ptr("BackendIPAddress eq '*' and ConnectionState eq 'failed'"),
		Interval:    to.Ptr("PT1M"),
		Timespan:    to.Ptr(span),
	})
	if err != nil {
		skip("metrics of "+lbID, err)
	} else {
		put("metrics-snat-connections-"+name, conns.Response)
	}
}

// cluster reads the managed cluster, by name or by its node resource group.
func (l *Live) cluster(ctx context.Context, t Target) (*armcontainerservice.ManagedCluster, error) {
	if t.ResourceGroup != "" && t.Cluster != "" {
		res, err := l.clusters.Get(ctx, t.ResourceGroup, t.Cluster, nil)
		if err != nil {
			return nil, fmt.Errorf("reading AKS cluster %s/%s: %w", t.ResourceGroup, t.Cluster, err)
		}
		return &res.ManagedCluster, nil
	}
	if t.NodeResourceGroup == "" {
		return nil, errors.New("no cluster given (--resource-group and --cluster-name) and no node resource group found in the nodes' providerID")
	}
	pager := l.clusters.NewListPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing AKS clusters of subscription %s: %w", t.Subscription, err)
		}
		for _, mc := range page.Value {
			if mc != nil && mc.Properties != nil && mc.Properties.NodeResourceGroup != nil && strings.EqualFold(*mc.Properties.NodeResourceGroup, t.NodeResourceGroup) {
				return mc, nil
			}
		}
	}
	return nil, fmt.Errorf("no AKS cluster of subscription %s has node resource group %s", t.Subscription, t.NodeResourceGroup)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
