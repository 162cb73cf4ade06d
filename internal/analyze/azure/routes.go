package azure

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	azr "github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/finding"
)

// routeTable finds the route table of the node subnet.
func (c *context) routeTable() *azr.RouteTable {
	if c.subnet != nil && c.subnet.RouteTable != nil {
		if rt := c.set.RouteTableByID(c.subnet.RouteTable.ID); rt != nil {
			return rt
		}
	}
	if c.subnet != nil {
		for i := range c.set.RouteTables {
			for _, sn := range c.set.RouteTables[i].Subnets {
				if azr.SameID(sn.ID, c.subnet.ID) {
					return &c.set.RouteTables[i]
				}
			}
		}
	}
	if len(c.set.RouteTables) == 1 {
		return &c.set.RouteTables[0]
	}
	return nil
}

// publicDestinations are the public destinations the nodes talk to (from
// connections.json), each with the nodes and whether flows are stuck in
// SYN_SENT.
type observedDest struct {
	dst     netip.AddrPort
	synSent int
	est     int
	nodes   map[string]bool
	// probes is the evidence of failed probes to this destination.
	probes []string
}

// failing reports whether the destination shows a failure: flows stuck in
// SYN_SENT or a failed probe.
func (o observedDest) failing() bool { return o.synSent > 0 || len(o.probes) > 0 }

// describe is the evidence line of a failing destination.
func (o observedDest) describe(via string) []string {
	var out []string
	if o.synSent > 0 || o.est > 0 {
		out = append(out, fmt.Sprintf("%s: %d flows in SYN_SENT, %d established, from %s%s", o.dst, o.synSent, o.est, nodesText(o.nodes), via))
	}
	for _, p := range o.probes {
		out = append(out, fmt.Sprintf("%s: %s%s", o.dst, p, via))
	}
	return out
}

func (c *context) observedPublic() []observedDest {
	if c.observed != nil {
		return *c.observed
	}
	agg := map[netip.AddrPort]*observedDest{}
	for node, cs := range c.conns {
		for _, d := range cs.Destinations {
			if !d.IP.IsValid() || azr.IsPrivate(d.IP) {
				continue
			}
			k := netip.AddrPortFrom(d.IP, uint16(d.Port))
			o := agg[k]
			if o == nil {
				o = &observedDest{dst: k, nodes: map[string]bool{}}
				agg[k] = o
			}
			o.synSent += d.SynSent
			o.est += d.Established
			o.nodes[node] = true
		}
	}
	for _, fp := range c.failedProbes() {
		if azr.IsPrivate(fp.dst.Addr()) {
			continue
		}
		o := agg[fp.dst]
		if o == nil {
			o = &observedDest{dst: fp.dst, nodes: map[string]bool{}}
			agg[fp.dst] = o
		}
		for n := range fp.nodes {
			o.nodes[n] = true
		}
		o.probes = append(o.probes, fp.what...)
	}
	out := make([]observedDest, 0, len(agg))
	for _, o := range agg {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dst.Compare(out[j].dst) < 0 })
	c.observed = &out
	return out
}

// nodesText names up to maxShown nodes of a set, sorted, and how many more.
func nodesText(m map[string]bool) string {
	names := sortedKeys(m)
	if len(names) > maxShown {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:maxShown], ", "), len(names)-maxShown)
	}
	return strings.Join(names, ", ")
}

// checkRoutes is EGR002: blackholes, the default route to an appliance,
// and kubenet's pod CIDR routes.
func (c *context) checkRoutes(r *finding.Result) {
	rt := c.routeTable()
	if rt == nil {
		switch {
		case c.outbound == azr.OutboundUserDefinedRouting && c.subnet != nil && c.subnet.RouteTable == nil:
			r.Add(finding.Finding{
				Code: "EGR002", Severity: finding.Critical,
				Title:       fmt.Sprintf("outbound type userDefinedRouting but subnet %s has no route table", c.subnet.Name),
				Subjects:    []finding.Subject{{Kind: "Subnet", Namespace: rgOf(c.subnet.ID), Name: c.subnet.Name}},
				Evidence:    []string{"subnet " + c.subnet.ID + ": no routeTable", "outbound type from " + c.outboundFrom},
				Explanation: "With userDefinedRouting, AKS creates no egress of its own: the subnet's route table must send 0.0.0.0/0 to the egress device. Without one, traffic follows Azure's default Internet route with no SNAT owner.",
				Remediation: []string{fmt.Sprintf("az network vnet subnet update --ids %s --route-table <route-table-with-0.0.0.0/0-to-the-firewall>", c.subnet.ID)},
			})
			r.Check(checkUDR, finding.Failed, "no route table on the node subnet")
		case len(c.set.RouteTables) > 1:
			r.Check(checkUDR, finding.Skipped, "several route tables and no way to tell which is the node subnet's: add the subnet (az network vnet subnet show)")
		default:
			r.Check(checkUDR, finding.Skipped, "no route table in the Azure data (az network route-table show)")
		}
		return
	}
	var problems []string
	before := len(r.Findings)
	rg := rgOf(rt.ID)
	rtSubj := finding.Subject{Kind: "RouteTable", Namespace: rg, Name: rt.Name}

	// Routes that cannot be read.
	_, errs := azr.Lookup(rt, c.vnet, azr.SamplePublicIP)
	for _, e := range errs {
		problems = append(problems, e.Error())
	}

	// Blackholes: next hop None.
	for _, rte := range rt.Routes {
		if !strings.EqualFold(rte.NextHopType, azr.NextHopNone) {
			continue
		}
		p, err := azr.ParseRoutePrefix(rte.AddressPrefix)
		if err != nil {
			continue
		}
		var affected []string
		for _, o := range c.observedPublic() {
			d, _ := azr.Lookup(rt, c.vnet, o.dst.Addr())
			if d.Route != nil && d.Route.Name == rte.Name && o.failing() {
				affected = append(affected, o.describe("")...)
			}
		}
		sev := finding.Critical
		public := !azr.IsPrivate(p.Addr())
		if !public && len(affected) == 0 {
			sev = finding.Warning
		}
		ev := []string{fmt.Sprintf("route table %s, route %s: %s -> next hop None (packets are dropped)", rt.Name, rte.Name, p)}
		ev = append(ev, affected...)
		ev = append(ev, "outbound type from "+c.outboundFrom)
		problems = append(problems, "route "+rte.Name+" blackholes "+p.String())
		r.Add(finding.Finding{
			Code: "EGR002", Severity: sev,
			Title:    fmt.Sprintf("route %s in %s blackholes %s (next hop None)", rte.Name, rt.Name, p),
			Subjects: []finding.Subject{rtSubj},
			Evidence: ev,
			Explanation: "Azure picks the longest matching prefix; a route whose next hop is None drops every packet to that prefix without an ICMP error, " +
				"so connections to it time out (TCP stays in SYN_SENT; DNS over UDP gets no answer).",
			Remediation: []string{
				fmt.Sprintf("az network route-table route show -g %s --route-table-name %s -n %s -o json > route-%s-backup.json  # record it first", rg, rt.Name, rte.Name, rte.Name),
				fmt.Sprintf("az network route-table route delete -g %s --route-table-name %s -n %s  # if the blackhole is not intended", rg, rt.Name, rte.Name),
			},
		})
	}

	// The default route for public destinations.
	def := azr.DefaultRoute(rt)
	if def.NextHopType == azr.NextHopVirtualAppliance {
		c.applianceRoute(r, rt, def, &problems)
	} else if c.outbound == azr.OutboundUserDefinedRouting && def.Route == nil {
		problems = append(problems, "no 0.0.0.0/0 route")
		r.Add(finding.Finding{
			Code: "EGR002", Severity: finding.Warning,
			Title:       fmt.Sprintf("outbound type userDefinedRouting but route table %s has no 0.0.0.0/0 route", rt.Name),
			Subjects:    []finding.Subject{rtSubj},
			Evidence:    []string{"public destinations follow " + def.String(), "outbound type from " + c.outboundFrom},
			Explanation: "userDefinedRouting expects the route table to send 0.0.0.0/0 to the egress device (a firewall or NVA); AKS refuses to create such a cluster without it.",
			Remediation: []string{fmt.Sprintf("az network route-table route create -g %s --route-table-name %s -n default-egress --address-prefix 0.0.0.0/0 --next-hop-type VirtualAppliance --next-hop-ip-address <firewall-private-ip>", rg, rt.Name)},
		})
	}

	// kubenet's pod CIDR routes in this table are NODE001's to judge.
	if c.cluster != nil && strings.EqualFold(c.cluster.NetworkProfile.NetworkPlugin, "kubenet") {
		problems = append(problems, "pod CIDR routes (kubenet) are checked by node/pod-cidr-routes (NODE001)")
	}

	if len(r.Findings) > before {
		r.Check(checkUDR, finding.Failed, strings.Join(problems, "; "))
		return
	}
	reason := fmt.Sprintf("route table %s: public destinations follow %s", rt.Name, def)
	if len(problems) > 0 {
		reason += "; " + strings.Join(problems, "; ")
	}
	r.Check(checkUDR, finding.Passed, reason)
}

// applianceRoute judges a default route to a virtual appliance.
func (c *context) applianceRoute(r *finding.Result, rt *azr.RouteTable, def azr.RouteDecision, problems *[]string) {
	rg := rgOf(rt.ID)
	rtSubj := finding.Subject{Kind: "RouteTable", Namespace: rg, Name: rt.Name}
	route := def.Route
	nva := def.NextHopIP
	var ev []string
	ev = append(ev, fmt.Sprintf("route table %s: public destinations follow %s", rt.Name, def))
	ev = append(ev, "outbound type from "+c.outboundFrom)
	sev := finding.Severity("")
	title := ""
	switch {
	case nva == "":
		sev, title = finding.Critical, fmt.Sprintf("route %s sends %s to a virtual appliance with no next hop IP", route.Name, def.Prefix)
	case c.outbound == azr.OutboundLoadBalancer || c.outbound == azr.OutboundManagedNATGateway || c.outbound == azr.OutboundUserAssignedNATGateway:
		sev, title = finding.Warning, fmt.Sprintf("route %s forces egress through appliance %s while the outbound type is %s", route.Name, nva, c.outbound)
		ev = append(ev, "replies to the "+c.outbound+"'s SNAT come back by another path than the requests left (asymmetric routing); the appliance or the Azure SNAT drops them")
	}
	if ip, err := netip.ParseAddr(nva); err == nil {
		in := false
		for _, p := range c.vnet {
			in = in || p.Contains(ip)
		}
		switch {
		case !azr.IsPrivate(ip) && !in:
			sev, title = finding.Critical, fmt.Sprintf("route %s sends egress to %s, a public address, as a virtual appliance", route.Name, nva)
		case c.set.HasVNet() && !in:
			sev, title = finding.Critical, fmt.Sprintf("route %s sends egress to appliance %s, outside the virtual network and its peerings", route.Name, nva)
			ev = append(ev, fmt.Sprintf("virtual network prefixes: %v; an appliance the VNet cannot reach (other than through a VPN or ExpressRoute gateway) receives nothing", c.vnet))
		}
	} else if nva != "" {
		sev, title = finding.Critical, fmt.Sprintf("route %s has next hop IP %q, not an IP address", route.Name, nva)
	}
	// Evidence of the appliance dropping: flows stuck in SYN_SENT through it.
	var stuck []observedDest
	for _, o := range c.observedPublic() {
		d, _ := azr.Lookup(rt, c.vnet, o.dst.Addr())
		if d.NextHopType == azr.NextHopVirtualAppliance && o.failing() {
			stuck = append(stuck, o)
		}
	}
	sort.SliceStable(stuck, func(i, j int) bool {
		if a, b := len(stuck[i].probes), len(stuck[j].probes); a != b {
			return a > b
		}
		return stuck[i].synSent > stuck[j].synSent
	})
	for _, o := range stuck {
		ev = append(ev, o.describe(", through appliance "+nva)...)
	}
	if len(stuck) > 0 && title == "" {
		sev, title = finding.Warning, fmt.Sprintf("connections through appliance %s are not answered (%s)", nva, stuck[0].dst)
	}
	if title == "" {
		*problems = append(*problems, fmt.Sprintf("egress via appliance %s (route %s), as outbound type %s expects", nva, route.Name, c.outbound))
		return
	}
	*problems = append(*problems, title)
	dst := azr.SamplePublicIP.String()
	url := "https://<destination>"
	if len(stuck) > 0 {
		dst = stuck[0].dst.Addr().String()
		url = fmt.Sprintf("https://%s:%d", dst, stuck[0].dst.Port())
		if stuck[0].dst.Port() == 80 {
			url = "http://" + dst
		}
	} else {
		dst = "<destination-ip>"
	}
	r.Add(finding.Finding{
		Code: "EGR002", Severity: sev, Title: title,
		Subjects: []finding.Subject{rtSubj},
		Evidence: ev,
		Explanation: "The longest matching route for public destinations sends them to a virtual appliance (a firewall or NVA). " +
			"If the appliance is unreachable, or its rules or NAT drop the destination, connections from the nodes and pods time out. " +
			"The test below bypasses the appliance for one destination with a more specific route; netdoctor only prints it: run it in a controlled window and remove the route right after.",
		Remediation: bypassTest(rg, rt.Name, route.Name, dst, url),
	})
}

// bypassTest is seed 002's temporary NVA-bypass test, as commands (printed,
// never run).
func bypassTest(rg, rtName, routeName, dst, url string) []string {
	return []string{
		fmt.Sprintf("az network route-table route show -g %s --route-table-name %s -n %s -o json > route-%s-backup.json  # 1. record the current route", rg, rtName, routeName, routeName),
		fmt.Sprintf("az network route-table route create -g %s --route-table-name %s -n netdoctor-bypass-test --address-prefix %s/32 --next-hop-type Internet  # 2. temporary: this destination skips the appliance (exposes it directly to the Internet path)", rg, rtName, dst),
		fmt.Sprintf("kubectl run netdoctor-bypass-curl --rm -it --restart=Never --image=curlimages/curl -- curl -vvv --max-time 10 %s  # 3. test again from a pod", url),
		fmt.Sprintf("az network route-table route delete -g %s --route-table-name %s -n netdoctor-bypass-test  # 4. remove the bypass right away", rg, rtName),
		"If step 3 works only with the bypass, the appliance drops the traffic: look for denies from the node subnet to the destination in its logs and allow it there.",
	}
}
