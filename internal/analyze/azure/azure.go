// Package azure analyzes an AKS cluster's Azure outbound path from the Azure
// resources in the snapshot (azure/*.json) and the nodes' connection tables
// (nodes/<node>/connections.json): SNAT port exhaustion (EGR001), user-defined
// routes (EGR002), NSG rules (EGR003) and the NAT gateway (EGR005). The
// kubenet pod CIDR routes of the route table are NODE001's (analyze/node).
//
// The cluster's outbound type decides which checks run, as in the field
// guide's decision tree: loadBalancer (SNAT, NSG, and the route table for
// kubenet), userDefinedRouting (routes to the appliance, NSG),
// managedNATGateway / userAssignedNATGateway (NAT gateway, its SNAT, NSG).
package azure

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	azr "github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Check names.
const (
	checkData = "azure/data"
	checkSNAT = "azure/snat"
	checkUDR  = "azure/udr"
	checkNSG  = "azure/nsg"
	checkNAT  = "azure/nat-gateway"
)

// Thresholds of SNAT use, as a fraction of the ports a node has.
const (
	nearExhaustion = 0.8
	maxShown       = 5
)

// Outbound analyzes the Azure outbound path. Without Azure data every check
// is skipped with the reason.
func Outbound(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	set, errs := azr.Load(s.Files)
	for _, err := range errs {
		r.Check(checkData, finding.Error, err.Error())
	}
	if set.Empty() {
		reason := "no Azure resources in the snapshot: collect with --azure (Azure credentials) or give az JSON files with --azure-dir DIR"
		if why, skipped := s.Skipped("azure"); skipped {
			reason = "Azure resources could not be collected: " + why
		}
		if len(errs) > 0 {
			reason = "no Azure resource could be read (see azure/data)"
		}
		for _, c := range []string{checkSNAT, checkUDR, checkNSG, checkNAT} {
			r.Check(c, finding.Skipped, reason)
		}
		return r
	}
	if len(errs) == 0 {
		reason := fmt.Sprintf("read %d files: %s", len(set.Files), strings.Join(set.Files, ", "))
		if len(set.Ignored) > 0 {
			reason += "; not used: " + strings.Join(set.Ignored, ", ")
		}
		r.Check(checkData, finding.Passed, reason)
	}
	c := newContext(s, set)
	for _, st := range c.plan() {
		if st.skip != "" {
			r.Check(st.check, finding.Skipped, st.skip)
			continue
		}
		st.run(c, &r)
	}
	return r
}

// context is what every check needs, derived once.
type context struct {
	s        *snapshot.Snapshot
	set      *azr.Set
	cluster  *azr.ManagedCluster
	outbound string
	// outboundFrom says where outbound came from ("az aks show", "inferred ...").
	outboundFrom string
	subnet       *azr.Subnet
	vnet         []netip.Prefix
	nodeIPs      map[string]netip.Addr
	byIP         map[netip.Addr]string
	conns        map[string]connSummary
	observed     *[]observedDest
	connErrs     []string
	clusterName  string
	clusterRG    string
}

// connSummary is nodedata's connections.json; its per-source counts
// (sources) name the pods holding the connections.
type connSummary struct {
	nodedata.ConnectionSummary
}

type planStep struct {
	check string
	run   func(*context, *finding.Result)
	skip  string
}

func newContext(s *snapshot.Snapshot, set *azr.Set) *context {
	c := &context{s: s, set: set, cluster: set.Cluster(), nodeIPs: map[string]netip.Addr{}, byIP: map[netip.Addr]string{}, conns: map[string]connSummary{}}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				if ip, err := netip.ParseAddr(a.Address); err == nil {
					c.nodeIPs[n.Name] = ip
					c.byIP[ip] = n.Name
					break
				}
			}
		}
	}
	for _, node := range s.NodesWithFiles() {
		b, ok := s.NodeFile(node, nodedata.FileConnections)
		if !ok {
			continue
		}
		var cs connSummary
		if err := json.Unmarshal(b, &cs); err != nil {
			c.connErrs = append(c.connErrs, fmt.Sprintf("%s: %v", snapshot.NodeFilePath(node, nodedata.FileConnections), err))
			continue
		}
		c.conns[node] = cs
	}
	if c.cluster != nil {
		c.clusterName = c.cluster.Name
		if id, ok := azr.ParseResourceID(c.cluster.ID); ok {
			c.clusterRG = id.ResourceGroup
		}
		c.outbound, c.outboundFrom = c.cluster.NetworkProfile.OutboundType, "networkProfile.outboundType of cluster "+c.cluster.Name
		if c.outbound == "" {
			c.outbound, c.outboundFrom = azr.OutboundLoadBalancer, "cluster "+c.cluster.Name+" (loadBalancer, the default when outboundType is unset)"
		}
	} else {
		c.outbound, c.outboundFrom = c.inferOutbound()
	}
	c.subnet = c.nodeSubnet()
	c.vnet = set.VNetPrefixes()
	return c
}

// inferOutbound guesses the outbound type from the resources when there is
// no `az aks show`.
func (c *context) inferOutbound() (string, string) {
	if len(c.set.NATGateways) > 0 {
		return azr.OutboundUserAssignedNATGateway, "inferred: a NAT gateway is in the Azure data and no cluster (az aks show) is"
	}
	for i := range c.set.RouteTables {
		d := azr.DefaultRoute(&c.set.RouteTables[i])
		if d.Route != nil && d.NextHopType == azr.NextHopVirtualAppliance {
			return azr.OutboundUserDefinedRouting, "inferred: route table " + c.set.RouteTables[i].Name + " sends 0.0.0.0/0 to a virtual appliance and no cluster (az aks show) is in the Azure data"
		}
	}
	for _, lb := range c.set.LoadBalancers {
		if len(lb.OutboundRules) > 0 {
			return azr.OutboundLoadBalancer, "inferred: load balancer " + lb.Name + " has outbound rules and no cluster (az aks show) is in the Azure data"
		}
	}
	return "", "unknown: no cluster (az aks show) in the Azure data"
}

// nodeSubnet finds the subnet of the nodes: the one the node pools name,
// the one holding the nodes' IPs, or the only one.
func (c *context) nodeSubnet() *azr.Subnet {
	if c.cluster != nil {
		for _, p := range c.cluster.AgentPoolProfiles {
			for i := range c.set.Subnets {
				if azr.SameID(c.set.Subnets[i].ID, p.VnetSubnetID) {
					return &c.set.Subnets[i]
				}
			}
		}
	}
	for i := range c.set.Subnets {
		for _, p := range c.set.Subnets[i].Prefixes() {
			pf, err := netip.ParsePrefix(p)
			if err != nil {
				continue
			}
			for _, ip := range c.nodeIPs {
				if pf.Contains(ip) {
					return &c.set.Subnets[i]
				}
			}
		}
	}
	if len(c.set.Subnets) == 1 {
		return &c.set.Subnets[0]
	}
	return nil
}

// plan is seed 002's decision tree: the outbound type decides which checks
// run; a check whose type does not apply is skipped with that reason.
func (c *context) plan() []planStep {
	snat := planStep{check: checkSNAT, run: (*context).checkSNAT}
	udr := planStep{check: checkUDR, run: (*context).checkRoutes}
	nsg := planStep{check: checkNSG, run: (*context).checkNSG}
	nat := planStep{check: checkNAT, run: (*context).checkNATGateway}
	not := func(p planStep, why string) planStep {
		p.skip = fmt.Sprintf("outbound type %s (%s): %s", c.outbound, c.outboundFrom, why)
		return p
	}
	switch c.outbound {
	case azr.OutboundLoadBalancer:
		return []planStep{snat, udr, nsg, not(nat, "egress does not use a NAT gateway")}
	case azr.OutboundUserDefinedRouting:
		return []planStep{not(snat, "SNAT happens at the virtual appliance, not at an Azure load balancer or NAT gateway"), udr, nsg, not(nat, "egress does not use a NAT gateway")}
	case azr.OutboundManagedNATGateway, azr.OutboundUserAssignedNATGateway:
		return []planStep{snat, udr, nsg, nat}
	case azr.OutboundNone:
		return []planStep{not(snat, "AKS sets up no egress"), udr, nsg, not(nat, "AKS sets up no egress")}
	}
	return []planStep{snat, udr, nsg, nat}
}

// az returns an az command line with the cluster's names filled in when known.
func (c *context) aksUpdate(args string) string {
	rg, name := c.clusterRG, c.clusterName
	if rg == "" {
		rg = "<resource-group>"
	}
	if name == "" {
		name = "<cluster>"
	}
	return fmt.Sprintf("az aks update -g %s -n %s %s", rg, name, args)
}

// podByIP names the pod with that IP, or "".
func (c *context) podByIP(ip netip.Addr) string {
	for i := range c.s.Pods {
		p := &c.s.Pods[i]
		if p.Spec.HostNetwork {
			continue
		}
		for _, pip := range p.Status.PodIPs {
			if pip.IP == ip.String() {
				return p.Namespace + "/" + p.Name
			}
		}
		if p.Status.PodIP == ip.String() {
			return p.Namespace + "/" + p.Name
		}
	}
	return ""
}

// nodeSrc is a source address for flows from the nodes: a node's IP, else
// an address in the node subnet.
func (c *context) nodeSrc() netip.Addr {
	names := make([]string, 0, len(c.nodeIPs))
	for n := range c.nodeIPs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		return c.nodeIPs[names[0]]
	}
	if c.subnet != nil {
		for _, p := range c.subnet.Prefixes() {
			if pf, err := netip.ParsePrefix(p); err == nil {
				a := pf.Masked().Addr()
				for range 4 { // Azure reserves .0-.3; the first VM is .4
					a = a.Next()
				}
				return a
			}
		}
	}
	return netip.MustParseAddr("10.224.0.4")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func nodeSubjects(nodes []string) []finding.Subject {
	out := make([]finding.Subject, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, finding.Subject{Kind: "Node", Name: n})
	}
	return out
}

func rgOf(id string) string {
	if r, ok := azr.ParseResourceID(id); ok {
		return r.ResourceGroup
	}
	return "<resource-group>"
}
