package azure

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// RouteDecision is the route Azure picks for a destination.
type RouteDecision struct {
	// Prefix is the matching prefix.
	Prefix netip.Prefix
	// NextHopType is VirtualAppliance, Internet, VnetLocal, None, ...
	NextHopType string
	// NextHopIP is set for VirtualAppliance.
	NextHopIP string
	// Route is the user-defined route that matched; nil for a system route.
	Route *Route
}

// System reports whether a system route (not the route table) decided.
func (d RouteDecision) System() bool { return d.Route == nil }

func (d RouteDecision) String() string {
	src := "system route"
	if d.Route != nil {
		src = "route " + d.Route.Name
	}
	hop := d.NextHopType
	if d.NextHopIP != "" {
		hop += " " + d.NextHopIP
	}
	return fmt.Sprintf("%s %s -> %s", src, d.Prefix, hop)
}

// systemRoutes are Azure's default system routes (besides the virtual
// network's own prefixes, which are VnetLocal).
var systemRoutes = []struct {
	prefix netip.Prefix
	hop    string
}{
	{netip.MustParsePrefix("0.0.0.0/0"), NextHopInternet},
	{netip.MustParsePrefix("10.0.0.0/8"), NextHopNone},
	{netip.MustParsePrefix("172.16.0.0/12"), NextHopNone},
	{netip.MustParsePrefix("192.168.0.0/16"), NextHopNone},
	{netip.MustParsePrefix("100.64.0.0/10"), NextHopNone},
}

// RouteError is a route the table holds that netdoctor cannot read.
type RouteError struct {
	Route Route
	Err   error
}

func (e *RouteError) Error() string { return fmt.Sprintf("route %s: %v", e.Route.Name, e.Err) }

// Lookup picks the route for dst: longest prefix match over the route
// table's routes, the virtual network's prefixes (VnetLocal) and Azure's
// system routes; at equal length a user-defined route wins over a system
// route. rt may be nil (only system routes). Unparseable routes are skipped
// and returned as errors.
func Lookup(rt *RouteTable, vnet []netip.Prefix, dst netip.Addr) (RouteDecision, []error) {
	var best RouteDecision
	bestBits, bestUser := -1, false
	var errs []error
	consider := func(p netip.Prefix, hop, ip string, r *Route) {
		if !p.Contains(dst) {
			return
		}
		bits, user := p.Bits(), r != nil
		if bits > bestBits || (bits == bestBits && user && !bestUser) {
			best = RouteDecision{Prefix: p, NextHopType: hop, NextHopIP: ip, Route: r}
			bestBits, bestUser = bits, user
		}
	}
	if dst.Is4() {
		for _, s := range systemRoutes {
			consider(s.prefix, s.hop, "", nil)
		}
	}
	for _, p := range vnet {
		consider(p, NextHopVnetLocal, "", nil)
	}
	if rt != nil {
		for i := range rt.Routes {
			r := &rt.Routes[i]
			p, err := ParseRoutePrefix(r.AddressPrefix)
			if err != nil {
				errs = append(errs, &RouteError{Route: *r, Err: err})
				continue
			}
			consider(p, canonicalHop(r.NextHopType), r.NextHopIPAddress, r)
		}
	}
	return best, errs
}

// ParseRoutePrefix parses a route's addressPrefix. Service tags (a route may
// name one, e.g. "AzureCloud") are not expanded: they are an error here.
func ParseRoutePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address prefix %q is not a CIDR (service tags are not expanded)", s)
	}
	return p.Masked(), nil
}

func canonicalHop(h string) string {
	for _, k := range []string{NextHopVirtualAppliance, NextHopInternet, NextHopVnetLocal, NextHopNone, NextHopVirtualNetworkGateway} {
		if strings.EqualFold(h, k) {
			return k
		}
	}
	return h
}

// PodCIDRRoute is the state of a kubenet node's pod CIDR route.
type PodCIDRRoute struct {
	Node, PodCIDR, NodeIP string
	// Route is the route table's route for the pod CIDR; nil when missing.
	Route *Route
	// Problem is empty when the route sends the pod CIDR to the node.
	Problem string
}

// CheckPodCIDRRoutes checks, for kubenet, that the route table sends every
// node's pod CIDR to that node (nextHopType VirtualAppliance, nextHopIpAddress
// the node's IP), as the cloud provider's route controller writes it.
// nodes maps node name to (podCIDR, node InternalIP).
func CheckPodCIDRRoutes(rt *RouteTable, nodes map[string][2]string) []PodCIDRRoute {
	var out []PodCIDRRoute
	for node, v := range nodes {
		podCIDR, nodeIP := v[0], v[1]
		pc, err := netip.ParsePrefix(podCIDR)
		if err != nil {
			continue
		}
		res := PodCIDRRoute{Node: node, PodCIDR: podCIDR, NodeIP: nodeIP}
		for i := range rt.Routes {
			p, err := ParseRoutePrefix(rt.Routes[i].AddressPrefix)
			if err == nil && p == pc.Masked() {
				res.Route = &rt.Routes[i]
				break
			}
		}
		switch {
		case res.Route == nil:
			res.Problem = fmt.Sprintf("no route for pod CIDR %s of node %s in route table %s", podCIDR, node, rt.Name)
		case canonicalHop(res.Route.NextHopType) != NextHopVirtualAppliance:
			res.Problem = fmt.Sprintf("route %s for pod CIDR %s has next hop %s, want VirtualAppliance %s", res.Route.Name, podCIDR, res.Route.NextHopType, nodeIP)
		case nodeIP != "" && res.Route.NextHopIPAddress != nodeIP:
			res.Problem = fmt.Sprintf("route %s sends pod CIDR %s of node %s to %s, but the node's IP is %s", res.Route.Name, podCIDR, node, res.Route.NextHopIPAddress, nodeIP)
		}
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// DefaultRoute is the route for 0.0.0.0/0 itself: the route table's /0 route
// if it has one, else Azure's system route to the Internet. Destinations no
// more specific route covers follow it.
func DefaultRoute(rt *RouteTable) RouteDecision {
	d := RouteDecision{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHopType: NextHopInternet}
	if rt == nil {
		return d
	}
	for i := range rt.Routes {
		p, err := ParseRoutePrefix(rt.Routes[i].AddressPrefix)
		if err == nil && p.Bits() == 0 && p.Addr().Is4() {
			r := &rt.Routes[i]
			return RouteDecision{Prefix: p, NextHopType: canonicalHop(r.NextHopType), NextHopIP: r.NextHopIPAddress, Route: r}
		}
	}
	return d
}
