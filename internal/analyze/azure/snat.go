package azure

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	azr "github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/finding"
)

// lbOutbound is the load balancer SNAT configuration as far as the data says.
type lbOutbound struct {
	lb        *azr.LoadBalancer
	rule      *azr.OutboundRule
	ips       int
	allocated int
	idle      int
	poolSize  int
	from      []string
}

// lbConfig reads the SNAT configuration from the outbound rule of the
// cluster's load balancer ("kubernetes", rule "aksOutboundRule"), falling
// back to the cluster's loadBalancerProfile.
func (c *context) lbConfig() (lbOutbound, bool) {
	var o lbOutbound
	for i := range c.set.LoadBalancers {
		lb := &c.set.LoadBalancers[i]
		if len(lb.OutboundRules) == 0 {
			continue
		}
		if o.lb == nil || strings.EqualFold(lb.Name, "kubernetes") {
			o.lb = lb
		}
	}
	if o.lb != nil {
		o.rule = &o.lb.OutboundRules[0]
		for i := range o.lb.OutboundRules {
			if strings.EqualFold(o.lb.OutboundRules[i].Name, "aksOutboundRule") {
				o.rule = &o.lb.OutboundRules[i]
			}
		}
		o.ips = len(o.rule.FrontendIPConfigurations)
		o.allocated = o.rule.AllocatedOutboundPorts
		o.idle = o.rule.IdleTimeoutInMinutes
		for _, p := range o.lb.BackendAddressPools {
			if azr.SameID(p.ID, o.rule.BackendAddressPool.ID) {
				o.poolSize = p.Size()
			}
		}
		o.from = append(o.from, fmt.Sprintf("outbound rule %s of load balancer %s", o.rule.Name, o.lb.Name))
	}
	if c.cluster != nil && c.cluster.NetworkProfile.LoadBalancerProfile != nil {
		p := c.cluster.NetworkProfile.LoadBalancerProfile
		if o.rule == nil {
			o.ips, o.allocated, o.idle = p.OutboundIPCount(), p.AllocatedOutboundPorts, p.IdleTimeoutInMinutes
			o.from = append(o.from, "loadBalancerProfile of cluster "+c.cluster.Name)
		}
	}
	if len(o.from) == 0 {
		return o, false
	}
	if o.ips == 0 {
		o.ips = 1
	}
	if o.idle == 0 {
		o.idle = azr.AKSDefaultLBIdleTimeout
	}
	return o, true
}

// nodeUse is what one node holds towards public destinations.
type nodeUse struct {
	node string
	// busiest is the public destination with the most flows; flows counts
	// them (one SNAT port each).
	busiest         string
	flows           int
	synSent         int
	total           int
	ports           float64 // ports the node has
	metric          *azr.BackendSNAT
	exhausted, near bool
}

func (u nodeUse) describe() string {
	var parts []string
	if u.busiest != "" {
		parts = append(parts, fmt.Sprintf("%d flows to %s (%d in SYN_SENT) of %.0f SNAT ports; %d flows to public destinations in all",
			u.flows, u.busiest, u.synSent, u.ports, u.total))
	}
	if m := u.metric; m != nil && m.HasUsed {
		parts = append(parts, fmt.Sprintf("load balancer metrics for backend %s: peak Used SNAT Ports %.0f of Allocated %.0f", m.BackendIP, m.Used, m.Allocated))
	}
	if m := u.metric; m != nil && m.FailedConnections > 0 {
		parts = append(parts, fmt.Sprintf("SNAT Connection Count with state failed: peak %.0f", m.FailedConnections))
	}
	return fmt.Sprintf("node %s: %s", u.node, strings.Join(parts, "; "))
}

type destCount struct {
	dst   string
	flows int
	syn   int
	nodes map[string]bool
}

// checkSNAT is EGR001.
func (c *context) checkSNAT(r *finding.Result) {
	if c.outbound == azr.OutboundManagedNATGateway || c.outbound == azr.OutboundUserAssignedNATGateway {
		c.checkNATSNAT(r)
		return
	}
	cfg, ok := c.lbConfig()
	if !ok {
		r.Check(checkSNAT, finding.Skipped, "no load balancer outbound rule (az network lb show) and no loadBalancerProfile (az aks show) in the Azure data")
		return
	}
	nodes := len(c.s.Nodes)
	if nodes == 0 {
		nodes = cfg.poolSize
	}
	if nodes == 0 {
		r.Check(checkSNAT, finding.Skipped, "the number of nodes is unknown (no nodes in the snapshot, no backend pool in the load balancer data)")
		return
	}
	valNodes, surge := nodes, 1
	if c.cluster != nil {
		if n, s, err := c.cluster.ValidationNodes(); err == nil && n > 0 {
			valNodes, surge = n, s
		}
	}
	capa := azr.LBCapacity(nodes, cfg.ips, cfg.allocated, surge)
	summary := fmt.Sprintf("%s x %s SNAT ports (%s) of %s (%s x 64,000), idle timeout %d min; from %s",
		plural(nodes, "node", "nodes"), thousands(capa.PortsPerNode), capa.Source, thousands(capa.TotalPorts), plural(cfg.ips, "outbound IP", "outbound IPs"), cfg.idle, strings.Join(cfg.from, " and "))

	var ev []string
	var rem []string
	severity := finding.Warning
	var subjects []string
	title := ""

	// The allocation AKS validates on every scale and upgrade.
	var allocErr *azr.AllocationError
	if err := azr.ValidateAllocation(cfg.allocated, valNodes+surge, cfg.ips); errors.As(err, &allocErr) {
		severity = finding.Critical
		title = fmt.Sprintf("allocatedOutboundPorts %d does not fit %d nodes (with autoscaler maximums and upgrade surge) on %s", cfg.allocated, valNodes+surge, plural(cfg.ips, "outbound IP", "outbound IPs"))
		ev = append(ev, fmt.Sprintf("AKS rejects this allocation on scale or upgrade with %s: %s", azr.AllocationErrorCode, allocErr.Error()))
		ev = append(ev, fmt.Sprintf("max nodes with %d ports per node on %s: %d (after %d surge)", cfg.allocated, plural(cfg.ips, "IP", "IPs"), azr.MaxNodes(cfg.ips, cfg.allocated, surge), surge))
	} else if capa.Err != nil {
		severity = finding.Critical
		title = "the load balancer's SNAT allocation cannot serve the node count"
		ev = append(ev, capa.Err.Error())
	}

	uses, haveUsage := c.nodeUsage(float64(capa.PortsPerNode))
	var hot []nodeUse
	for _, u := range uses {
		if u.exhausted || u.near {
			hot = append(hot, u)
		}
	}
	if len(hot) > 0 {
		var exhausted, near []string
		for _, u := range hot {
			if u.exhausted {
				exhausted = append(exhausted, u.node)
			} else {
				near = append(near, u.node)
			}
			if _, isNode := c.nodeIPs[u.node]; isNode || c.conns[u.node].Destinations != nil {
				subjects = append(subjects, u.node)
			}
			if len(ev) < 2*maxShown {
				ev = append(ev, u.describe())
			}
		}
		if len(hot) > 2*maxShown {
			ev = append(ev, fmt.Sprintf("and %d more nodes", len(hot)-2*maxShown))
		}
		if len(exhausted) > 0 {
			severity = finding.Critical
			title = fmt.Sprintf("SNAT ports exhausted on %s: %s", plural(len(exhausted), "node", "nodes"), capList(exhausted))
			if len(near) > 0 {
				title += fmt.Sprintf("; near exhaustion on %s", capList(near))
			}
		} else if title == "" {
			title = fmt.Sprintf("SNAT ports near exhaustion (over %.0f%%) on %s", nearExhaustion*100, capList(near))
		}
		for _, d := range c.topDestinations(hot) {
			ev = append(ev, fmt.Sprintf("top destination %s: %d flows (%d SYN_SENT) from %s", d.dst, d.flows, d.syn, nodesText(d.nodes)))
		}
		ev = append(ev, c.topPods(hot)...)
	}
	if title == "" {
		reason := summary
		if !haveUsage {
			r.Check(checkSNAT, finding.Skipped, "capacity: "+summary+"; usage not checked: no node connection data ("+c.s.NoNodeDataReason()+") and no load balancer SNAT metrics (az monitor metrics list)")
			return
		}
		if busiest := busiestNode(uses); busiest != "" {
			reason += "; busiest: " + busiest
		}
		r.Check(checkSNAT, finding.Passed, reason)
		return
	}
	ev = append([]string{"capacity: " + summary}, ev...)
	rem = c.snatRemedies(cfg, capa, valNodes, surge, hot)
	r.Add(finding.Finding{
		Code:     "EGR001",
		Severity: severity,
		Title:    title,
		Subjects: append(nodeSubjects(subjects), c.lbSubject(cfg)...),
		Evidence: ev,
		Explanation: "Each node may hold only its SNAT ports' worth of concurrent flows to one public destination (IP and port) through the load balancer; " +
			"beyond that the load balancer drops new SYNs, so connections from that node time out intermittently while other nodes work. " +
			"Ports stay taken for the idle timeout after a flow goes quiet, and AKS checks nodes x ports against outbound IPs x 64,000 on every scale and upgrade.",
		Remediation: rem,
	})
	r.Check(checkSNAT, finding.Failed, title)
}

func (c *context) lbSubject(cfg lbOutbound) []finding.Subject {
	if cfg.lb == nil {
		return nil
	}
	return []finding.Subject{{Kind: "LoadBalancer", Namespace: rgOf(cfg.lb.ID), Name: cfg.lb.Name}}
}

// nodeUsage measures every node with connection data or metrics against
// ports. ok is false when there is neither.
func (c *context) nodeUsage(ports float64) ([]nodeUse, bool) {
	metrics := azr.SNATByBackend(c.set.Metrics)
	byNode := map[string]*nodeUse{}
	get := func(n string) *nodeUse {
		u := byNode[n]
		if u == nil {
			u = &nodeUse{node: n, ports: ports}
			byNode[n] = u
		}
		return u
	}
	for node, cs := range c.conns {
		u := get(node)
		for _, d := range cs.Destinations {
			if !d.IP.IsValid() || azr.IsPrivate(d.IP) {
				continue
			}
			n := d.Established + d.SynSent
			u.total += n
			if n > u.flows {
				u.flows, u.synSent, u.busiest = n, d.SynSent, netip.AddrPortFrom(d.IP, uint16(d.Port)).String()
			}
		}
	}
	for ip, m := range metrics {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		node := c.byIP[a]
		if node == "" {
			node = "backend " + ip
		}
		u := get(node)
		u.metric = m
		if m.HasAllocated && m.Allocated > 0 {
			u.ports = m.Allocated
		}
	}
	var out []nodeUse
	for _, u := range byNode {
		if u.ports > 0 {
			frac := float64(u.flows) / u.ports
			u.exhausted = frac >= 1
			u.near = frac >= nearExhaustion
		}
		if m := u.metric; m != nil {
			if m.HasUsed && m.HasAllocated && m.Allocated > 0 {
				u.exhausted = u.exhausted || m.Used >= m.Allocated
				u.near = u.near || m.Used >= nearExhaustion*m.Allocated
			}
			if m.FailedConnections > 0 {
				u.exhausted = true
			}
		}
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node < out[j].node })
	return out, len(out) > 0
}

func busiestNode(uses []nodeUse) string {
	best := -1
	for i, u := range uses {
		if best < 0 || u.flows > uses[best].flows {
			best = i
		}
	}
	if best < 0 || uses[best].busiest == "" {
		return ""
	}
	u := uses[best]
	return fmt.Sprintf("node %s holds %d flows to %s", u.node, u.flows, u.busiest)
}

// topDestinations returns the busiest public destinations of the nodes.
func (c *context) topDestinations(nodes []nodeUse) []destCount {
	agg := map[string]*destCount{}
	for _, u := range nodes {
		for _, d := range c.conns[u.node].Destinations {
			if !d.IP.IsValid() || azr.IsPrivate(d.IP) {
				continue
			}
			k := netip.AddrPortFrom(d.IP, uint16(d.Port)).String()
			a := agg[k]
			if a == nil {
				a = &destCount{dst: k, nodes: map[string]bool{}}
				agg[k] = a
			}
			a.flows += d.Established + d.SynSent
			a.syn += d.SynSent
			a.nodes[u.node] = true
		}
	}
	out := make([]destCount, 0, len(agg))
	for _, a := range agg {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].flows != out[j].flows {
			return out[i].flows > out[j].flows
		}
		return out[i].dst < out[j].dst
	})
	if len(out) > maxShown {
		out = out[:maxShown]
	}
	return out
}

// topPods names the pods with the most connections, from the optional
// per-source counts of connections.json.
func (c *context) topPods(nodes []nodeUse) []string {
	type pc struct {
		who   string
		flows int
	}
	var all []pc
	for _, u := range nodes {
		for _, s := range c.conns[u.node].Sources {
			who := c.podByIP(s.IP)
			if who == "" {
				if n := c.byIP[s.IP]; n != "" {
					who = "node " + n + " (host network)"
				} else {
					who = s.IP.String()
				}
			} else {
				who = "pod " + who
			}
			all = append(all, pc{who + " on " + u.node, s.Established + s.SynSent})
		}
	}
	if len(all) == 0 {
		if len(c.conns) > 0 {
			return []string{"per-pod counts: not in the node data (connections.json has no per-source counts)"}
		}
		return nil
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].flows != all[j].flows {
			return all[i].flows > all[j].flows
		}
		return all[i].who < all[j].who
	})
	var out []string
	for i, p := range all {
		if i == maxShown {
			break
		}
		out = append(out, fmt.Sprintf("top source %s: %d flows to public destinations", p.who, p.flows))
	}
	return out
}

// snatRemedies lists the fixes with their az commands and their effect on
// the maximum node count.
func (c *context) snatRemedies(cfg lbOutbound, capa azr.Capacity, valNodes, surge int, hot []nodeUse) []string {
	var rem []string
	want := max(valNodes, capa.Nodes) + surge
	if len(hot) > 0 {
		rem = append(rem, "Reuse connections in the workloads holding the flows (HTTP keep-alive, connection pools, one client per process): fewer concurrent flows to the same destination need fewer SNAT ports.")
		peak := 0
		for _, u := range hot {
			peak = max(peak, u.flows)
			if u.metric != nil {
				peak = max(peak, int(u.metric.Used))
			}
		}
		target := roundUp8(max(2*capa.PortsPerNode, peak*3/2))
		target = min(target, azr.LBMaxPortsPerNode)
		ips := max(cfg.ips, azr.IPsForNodes(want, target))
		args := fmt.Sprintf("--load-balancer-outbound-ports %d", target)
		if ips > cfg.ips {
			args = fmt.Sprintf("--load-balancer-managed-outbound-ip-count %d ", ips) + args
		}
		rem = append(rem, fmt.Sprintf("%s  # %d SNAT ports per node (now %d) on %s: up to %d nodes plus %d surge",
			c.aksUpdate(args), target, capa.PortsPerNode, plural(ips, "outbound IP", "outbound IPs"), azr.MaxNodes(ips, target, surge), surge))
		more := ips + 1
		rem = append(rem, fmt.Sprintf("%s  # %s give %s ports: %d per node for up to %d nodes plus %d surge",
			c.aksUpdate(fmt.Sprintf("--load-balancer-managed-outbound-ip-count %d --load-balancer-outbound-ports %d", more, target)),
			plural(more, "outbound IP", "outbound IPs"), thousands(more*azr.LBPortsPerIP), target, azr.MaxNodes(more, target, surge), surge))
	}
	if cfg.allocated > 0 && azr.ValidateAllocation(cfg.allocated, want, cfg.ips) != nil {
		ips := azr.IPsForNodes(want, cfg.allocated)
		rem = append(rem, fmt.Sprintf("%s  # keeps %d ports per node: up to %d nodes plus %d surge",
			c.aksUpdate(fmt.Sprintf("--load-balancer-managed-outbound-ip-count %d", ips)), cfg.allocated, azr.MaxNodes(ips, cfg.allocated, surge), surge))
		if p := azr.PortsForNodes(cfg.ips, want); p > 0 {
			rem = append(rem, fmt.Sprintf("%s  # fits %d nodes (with surge) on %s; up to %d nodes plus %d surge",
				c.aksUpdate(fmt.Sprintf("--load-balancer-outbound-ports %d", p)), want, plural(cfg.ips, "outbound IP", "outbound IPs"), azr.MaxNodes(cfg.ips, p, surge), surge))
		}
	}
	rem = append(rem, fmt.Sprintf("%s  # NAT gateway: 2 x 64,512 ports shared on demand by all nodes (up to 16 IPs); TCP idle timeout 4 min by default",
		c.aksUpdate("--outbound-type managedNATGateway --nat-gateway-managed-outbound-ip-count 2")))
	if cfg.lb != nil {
		rem = append(rem, fmt.Sprintf("az monitor metrics list --resource %s --metric UsedSnatPorts AllocatedSnatPorts --filter \"BackendIPAddress eq '*'\" --aggregation Maximum --interval PT1M -o json  # confirm per node", cfg.lb.ID))
	}
	return rem
}

func roundUp8(n int) int {
	if r := n % azr.LBPortGranularity; r != 0 {
		n += azr.LBPortGranularity - r
	}
	return n
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// checkNATSNAT is EGR001 for a NAT gateway: ports are shared by every VM of
// its subnets, per destination.
func (c *context) checkNATSNAT(r *finding.Result) {
	ng := c.natGateway()
	if ng == nil {
		r.Check(checkSNAT, finding.Skipped, "no NAT gateway (az network nat gateway show) in the Azure data")
		return
	}
	ips := len(ng.PublicIPAddresses) + len(ng.PublicIPPrefixes)
	if ips == 0 && c.cluster != nil && c.cluster.NetworkProfile.NatGatewayProfile != nil && c.cluster.NetworkProfile.NatGatewayProfile.ManagedOutboundIPProfile != nil {
		ips = c.cluster.NetworkProfile.NatGatewayProfile.ManagedOutboundIPProfile.Count
	}
	capa := azr.NATGatewayCapacity(max(ips, 1), ng.IdleTimeoutInMinutes)
	summary := fmt.Sprintf("NAT gateway %s: %s x 64,512 = %s ports shared by the subnet's VMs, idle timeout %d min", ng.Name, plural(capa.IPs, "public IP", "public IPs"), thousands(capa.TotalPorts), capa.IdleTimeout)
	if len(c.conns) == 0 {
		r.Check(checkSNAT, finding.Skipped, "capacity: "+summary+"; usage not checked: no node connection data ("+c.s.NoNodeDataReason()+")")
		return
	}
	agg := map[string]*destCount{}
	for node, cs := range c.conns {
		for _, d := range cs.Destinations {
			if !d.IP.IsValid() || azr.IsPrivate(d.IP) {
				continue
			}
			k := netip.AddrPortFrom(d.IP, uint16(d.Port)).String()
			a := agg[k]
			if a == nil {
				a = &destCount{dst: k, nodes: map[string]bool{}}
				agg[k] = a
			}
			a.flows += d.Established + d.SynSent
			a.syn += d.SynSent
			a.nodes[node] = true
		}
	}
	var hot []*destCount
	for _, a := range agg {
		if float64(a.flows) >= nearExhaustion*float64(capa.TotalPorts) {
			hot = append(hot, a)
		}
	}
	if len(hot) == 0 {
		r.Check(checkSNAT, finding.Passed, summary)
		return
	}
	sort.Slice(hot, func(i, j int) bool { return hot[i].flows > hot[j].flows })
	var ev []string
	var nodes []string
	for _, h := range hot {
		ev = append(ev, fmt.Sprintf("%d flows to %s (%d SYN_SENT) from %s", h.flows, h.dst, h.syn, nodesText(h.nodes)))
		nodes = append(nodes, sortedKeys(h.nodes)...)
	}
	title := fmt.Sprintf("NAT gateway %s near SNAT exhaustion towards %s", ng.Name, hot[0].dst)
	r.Add(finding.Finding{
		Code: "EGR001", Severity: finding.Warning, Title: title,
		Subjects:    append(nodeSubjects(dedupe(nodes)), finding.Subject{Kind: "NATGateway", Namespace: rgOf(ng.ID), Name: ng.Name}),
		Evidence:    append([]string{"capacity: " + summary}, ev...),
		Explanation: "A NAT gateway gives 64,512 SNAT ports per public IP to all VMs of its subnets together, per destination IP and port; flows beyond that fail.",
		Remediation: []string{
			"Reuse connections in the workloads holding the flows (HTTP keep-alive, connection pools).",
			fmt.Sprintf("az network nat gateway update -g %s -n %s --public-ip-addresses <existing IPs> <new IP>  # up to 16 IPs", rgOf(ng.ID), ng.Name),
			c.aksUpdate(fmt.Sprintf("--nat-gateway-managed-outbound-ip-count %d  # managed NAT gateway: %d x 64,512 ports", min(capa.IPs+1, azr.NATMaxIPs), min(capa.IPs+1, azr.NATMaxIPs))),
		},
	})
	r.Check(checkSNAT, finding.Failed, title)
}

// capList joins up to maxShown names, and says how many more there are.
func capList(names []string) string {
	if len(names) > maxShown {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:maxShown], ", "), len(names)-maxShown)
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
