package node

import (
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

// routeProblem is one wrong or missing pod CIDR route.
type routeProblem struct {
	evidence string
	fix      string
}

// kubenetNode is a node that owns a pod CIDR.
type kubenetNode struct {
	node  *corev1.Node
	ip    netip.Addr
	cidrs []netip.Prefix
}

// Routes reports NODE001 for every node whose pod CIDR is not routed to the
// node: in the Azure route table of a kubenet cluster (azure/*.json), and
// in the nodes' own route tables when the nodes route pod CIDRs themselves
// (nodes/<node>/ip-route.txt). It reports the check "node/pod-cidr-routes".
func Routes(s *snapshot.Snapshot) finding.Result {
	var res finding.Result
	var nodes []kubenetNode
	for _, n := range sortedNodes(s) {
		if c := podCIDRs(n); len(c) > 0 {
			nodes = append(nodes, kubenetNode{node: n, ip: nodeIP(n), cidrs: c})
		}
	}
	if len(nodes) == 0 {
		res.Check(CheckPodCIDRRoutes, finding.Skipped, "no node has spec.podCIDR: pod CIDR routes do not apply (not kubenet)")
		return res
	}
	problems := map[string][]routeProblem{}
	var passed, skipped, errs []string

	if reason, done := azureRoutes(s, nodes, problems); done {
		passed = append(passed, reason)
	} else if reason != "" {
		skipped = append(skipped, reason)
	}
	reason, status := nodeRoutes(s, nodes, problems)
	switch status {
	case finding.Passed:
		passed = append(passed, reason)
	case finding.Error:
		errs = append(errs, reason)
	default:
		skipped = append(skipped, reason)
	}

	var bad []string
	for _, kn := range nodes {
		ps := problems[kn.node.Name]
		if len(ps) == 0 {
			continue
		}
		bad = append(bad, kn.node.Name)
		res.Add(routeFinding(s, kn, ps))
	}
	switch {
	case len(bad) > 0:
		res.Check(CheckPodCIDRRoutes, finding.Failed, "pod CIDR not routed to "+strings.Join(bad, ", "))
	case len(passed) > 0:
		res.Check(CheckPodCIDRRoutes, finding.Passed, strings.Join(append(passed, skipped...), "; "))
	case len(errs) > 0:
		res.Check(CheckPodCIDRRoutes, finding.Error, strings.Join(append(errs, skipped...), "; "))
	default:
		res.Check(CheckPodCIDRRoutes, finding.Skipped, strings.Join(skipped, "; "))
	}
	return res
}

// azureRoutes checks the kubenet route table of the Azure data. done is
// true when a route table was checked; reason says what was checked or
// why not.
func azureRoutes(s *snapshot.Snapshot, nodes []kubenetNode, problems map[string][]routeProblem) (reason string, done bool) {
	set, _ := azr.Load(s.Files) // unreadable files are the Azure checks' to report
	if set.Empty() {
		return "no Azure data (collect with --azure)", false
	}
	cluster := set.Cluster()
	kubenet := cluster != nil && strings.EqualFold(cluster.NetworkProfile.NetworkPlugin, "kubenet") && cluster.NetworkProfile.NetworkPluginMode == ""
	if cluster != nil && !kubenet {
		return fmt.Sprintf("Azure network plugin is %s, not kubenet: the route table holds no pod CIDR routes", pluginName(cluster)), false
	}
	// The kubenet route table: the one holding pod CIDR routes, else (a
	// kubenet cluster) every route table, which then lacks them all.
	var tables []*azr.RouteTable
	for i := range set.RouteTables {
		rt := &set.RouteTables[i]
		if holdsPodRoute(rt, nodes) {
			tables = append(tables, rt)
		}
	}
	if len(tables) == 0 {
		if !kubenet {
			return "no Azure route table holds pod CIDR routes and the cluster's network plugin is unknown (no az aks show output)", false
		}
		if len(set.RouteTables) == 0 {
			for _, kn := range nodes {
				problems[kn.node.Name] = append(problems[kn.node.Name], routeProblem{
					evidence: "the cluster uses kubenet but the Azure data has no route table: pod CIDR routes have nowhere to live",
					fix:      "az network vnet subnet show --ids <node subnet id> --query routeTable  # kubenet needs a route table on the node subnet",
				})
			}
			return "", true
		}
		for i := range set.RouteTables {
			tables = append(tables, &set.RouteTables[i])
		}
	}
	subnets := nodeSubnets(cluster)
	var names []string
	for _, rt := range tables {
		names = append(names, rt.Name)
		rg := resourceGroup(rt.ID)
		m := map[string][2]string{}
		for _, kn := range nodes {
			ip := ""
			if kn.ip.IsValid() {
				ip = kn.ip.String()
			}
			m[kn.node.Name] = [2]string{kn.cidrs[0].String(), ip}
		}
		for _, pr := range azr.CheckPodCIDRRoutes(rt, m) {
			if pr.Problem == "" {
				continue
			}
			ip := pr.NodeIP
			if ip == "" {
				ip = "<node IP>"
			}
			verb, name := "create", pr.Node
			if pr.Route != nil {
				verb, name = "update", pr.Route.Name
			}
			problems[pr.Node] = append(problems[pr.Node], routeProblem{
				evidence: pr.Problem,
				fix: fmt.Sprintf("az network route-table route %s -g %s --route-table-name %s -n %s --address-prefix %s --next-hop-type VirtualAppliance --next-hop-ip-address %s",
					verb, rg, rt.Name, name, pr.PodCIDR, ip),
			})
		}
		// The table must be on the node subnet (Azure/AKS#718).
		if len(subnets) > 0 && !associated(rt, subnets) {
			for _, kn := range nodes {
				problems[kn.node.Name] = append(problems[kn.node.Name], routeProblem{
					evidence: fmt.Sprintf("route table %s is not associated with the node subnet %s, so its pod CIDR routes apply to no node", rt.Name, subnets[0]),
					fix:      fmt.Sprintf("az network vnet subnet update --ids %s --route-table %s", subnets[0], rt.ID),
				})
			}
		}
	}
	return "Azure route table " + strings.Join(names, ", ") + " routes every pod CIDR to its node", true
}

func pluginName(c *azr.ManagedCluster) string {
	p := c.NetworkProfile.NetworkPlugin
	if p == "" {
		p = "(unset)"
	}
	if c.NetworkProfile.NetworkPluginMode != "" {
		p += " (" + c.NetworkProfile.NetworkPluginMode + ")"
	}
	return p
}

func holdsPodRoute(rt *azr.RouteTable, nodes []kubenetNode) bool {
	for _, r := range rt.Routes {
		p, err := azr.ParseRoutePrefix(r.AddressPrefix)
		if err != nil {
			continue
		}
		for _, kn := range nodes {
			for _, c := range kn.cidrs {
				if p == c {
					return true
				}
			}
		}
	}
	return false
}

func nodeSubnets(c *azr.ManagedCluster) []string {
	if c == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range c.AgentPoolProfiles {
		if p.VnetSubnetID != "" && !seen[strings.ToLower(p.VnetSubnetID)] {
			seen[strings.ToLower(p.VnetSubnetID)] = true
			out = append(out, p.VnetSubnetID)
		}
	}
	return out
}

func associated(rt *azr.RouteTable, subnets []string) bool {
	for _, s := range rt.Subnets {
		for _, want := range subnets {
			if azr.SameID(s.ID, want) {
				return true
			}
		}
	}
	return false
}

func resourceGroup(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return "<node resource group>"
}

// nodeRoutes checks the nodes' own route tables. Nodes that reach other
// nodes' pod CIDRs through their default gateway leave the routing to the
// network (the Azure route table); only when some node holds a route for
// another node's pod CIDR through that node do the nodes route for
// themselves, and then every node must.
func nodeRoutes(s *snapshot.Snapshot, nodes []kubenetNode, problems map[string][]routeProblem) (string, finding.Status) {
	type table struct {
		node   string
		routes []nodedata.Route
	}
	var tables []table
	var parseErrs []string
	for _, kn := range nodes {
		b, ok := s.NodeFile(kn.node.Name, nodedata.FileIPRoute)
		if !ok {
			continue
		}
		rs, err := nodedata.ParseRoutes(snapshot.NodeFilePath(kn.node.Name, nodedata.FileIPRoute), b)
		if err != nil {
			parseErrs = append(parseErrs, err.Error())
			continue
		}
		tables = append(tables, table{kn.node.Name, rs})
	}
	if len(tables) == 0 {
		if len(parseErrs) > 0 {
			return strings.Join(parseErrs, "; "), finding.Error
		}
		return "no node route tables: " + s.NoNodeDataReason(), finding.Skipped
	}
	// Does any node route another node's pod CIDR itself?
	hostRouted := false
	for _, t := range tables {
		for _, kn := range nodes {
			if kn.node.Name == t.node || !kn.ip.IsValid() {
				continue
			}
			for _, c := range kn.cidrs {
				if r, ok := nodedata.Lookup(t.routes, "main", c.Addr()); ok && r.Dst.Bits() >= c.Bits() && r.Type == "unicast" && r.Via == kn.ip {
					hostRouted = true
				}
			}
		}
	}
	found := 0
	for _, t := range tables {
		for _, kn := range nodes {
			if kn.node.Name == t.node {
				continue
			}
			for _, c := range kn.cidrs {
				r, ok := nodedata.Lookup(t.routes, "main", c.Addr())
				specific := ok && r.Dst.Bits() >= c.Bits()
				fix := fmt.Sprintf("ip route replace %s via %s  # on node %s", c, kn.ip, t.node)
				switch {
				case specific && r.Type != "unicast":
					found++
					problems[kn.node.Name] = append(problems[kn.node.Name], routeProblem{
						evidence: fmt.Sprintf("node %s has a %s route for pod CIDR %s of node %s (%s line %d)", t.node, r.Type, c, kn.node.Name, nodedata.FileIPRoute, r.Line),
						fix:      fix,
					})
				case specific && kn.ip.IsValid() && r.Via != kn.ip && r.Dev != "" && len(r.Nexthops) == 0:
					if !hostRouted {
						continue // an overlay device (not kubenet) owns the pod CIDR
					}
					found++
					via := "dev " + r.Dev
					if r.Via.IsValid() {
						via = "via " + r.Via.String()
					}
					problems[kn.node.Name] = append(problems[kn.node.Name], routeProblem{
						evidence: fmt.Sprintf("node %s routes pod CIDR %s of node %s %s, but the node's IP is %s (%s line %d)", t.node, c, kn.node.Name, via, kn.ip, nodedata.FileIPRoute, r.Line),
						fix:      fix,
					})
				case !specific && hostRouted:
					found++
					via := "no route"
					if ok {
						via = "only " + r.Dst.String()
						if r.Via.IsValid() {
							via += " via " + r.Via.String()
						}
					}
					problems[kn.node.Name] = append(problems[kn.node.Name], routeProblem{
						evidence: fmt.Sprintf("node %s has no route for pod CIDR %s of node %s (%s), while other nodes route pod CIDRs to their nodes", t.node, c, kn.node.Name, via),
						fix:      fix,
					})
				}
			}
		}
	}
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, t.node)
	}
	sort.Strings(names)
	if found > 0 {
		return "", finding.Failed
	}
	if hostRouted {
		return fmt.Sprintf("node route tables (%s) route every pod CIDR to its node", strings.Join(names, ", ")), finding.Passed
	}
	return fmt.Sprintf("node route tables (%s) send other nodes' pod CIDRs to their gateway, so the network's route table decides", strings.Join(names, ", ")), finding.Skipped
}

// routeFinding builds one node's NODE001.
func routeFinding(s *snapshot.Snapshot, kn kubenetNode, ps []routeProblem) finding.Finding {
	name := kn.node.Name
	cidrs := make([]string, len(kn.cidrs))
	for i, c := range kn.cidrs {
		cidrs[i] = c.String()
	}
	ip := "unknown"
	if kn.ip.IsValid() {
		ip = kn.ip.String()
	}
	ev := []string{fmt.Sprintf("node %s: InternalIP %s, spec.podCIDR %s", name, ip, strings.Join(cidrs, ","))}
	var fixes []string
	seenFix := map[string]bool{}
	for _, p := range ps {
		ev = append(ev, p.evidence)
		if p.fix != "" && !seenFix[p.fix] {
			seenFix[p.fix] = true
			fixes = append(fixes, p.fix)
		}
	}
	for _, c := range kn.node.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			ev = append(ev, fmt.Sprintf("node condition NetworkUnavailable=True (%s: %s)", c.Reason, c.Message))
		}
	}
	var onNode, dnsPods []string
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Spec.NodeName != name || p.Spec.HostNetwork || p.Status.Phase != corev1.PodRunning {
			continue
		}
		onNode = append(onNode, p.Namespace+"/"+p.Name)
		if p.Namespace == "kube-system" && p.Labels["k8s-app"] == "kube-dns" {
			dnsPods = append(dnsPods, p.Name)
		}
	}
	impact := "pods on other nodes cannot reach the pods on " + name
	if len(onNode) > 0 {
		noun := "pods"
		if len(onNode) == 1 {
			noun = "pod"
		}
		ev = append(ev, fmt.Sprintf("%d running %s on %s unreachable from other nodes", len(onNode), noun, name))
	}
	if len(dnsPods) > 0 {
		sort.Strings(dnsPods)
		ev = append(ev, "CoreDNS pods on "+name+": "+strings.Join(dnsPods, ", ")+" (DNS queries from other nodes that land there time out)")
		impact += ", and DNS lookups from other nodes time out whenever kube-dns picks a CoreDNS pod there"
	}
	fixes = append(fixes, "kubectl get node "+name+" -o jsonpath='{.spec.podCIDR} {.status.addresses[?(@.type==\"InternalIP\")].address}'  # the route must send the first to the second")
	return finding.Finding{
		Code:     "NODE001",
		Severity: finding.Critical,
		Title:    fmt.Sprintf("Pod CIDR %s of node %s is not routed to the node", strings.Join(cidrs, ","), name),
		Subjects: []finding.Subject{nodeSubject(name)},
		Evidence: ev,
		Explanation: "With kubenet, traffic to a pod on another node follows a route for that node's pod CIDR to the node's IP. Without a correct route " + impact +
			". The cloud provider's route controller writes these routes; a route it does not repair points at missing permissions or a route table detached from the subnet.",
		Remediation: fixes,
	}
}
