package nodedata

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Route is one route of `ip route` output.
type Route struct {
	// Type is unicast (the default), local, broadcast, blackhole,
	// unreachable, prohibit, throw, ...
	Type string `json:"type"`
	// Dst is the destination; "default" is 0.0.0.0/0 (or ::/0).
	Dst netip.Prefix `json:"dst"`
	// Via is the gateway, if any (the first nexthop's for multipath).
	Via netip.Addr `json:"via,omitzero"`
	// Dev is the output device, if any.
	Dev string `json:"dev,omitempty"`
	// Table is the routing table; "main" when ip does not print one.
	Table  string     `json:"table"`
	Proto  string     `json:"proto,omitempty"`
	Scope  string     `json:"scope,omitempty"`
	Src    netip.Addr `json:"src,omitzero"`
	Metric int        `json:"metric,omitempty"`
	// Nexthops holds the gateways of a multipath route.
	Nexthops []Nexthop `json:"nexthops,omitempty"`
	// Linkdown is set when the kernel marks the route's link down.
	Linkdown bool `json:"linkdown,omitempty"`
	// Line is the route's line number in the file.
	Line int `json:"line"`
}

// Nexthop is one gateway of a multipath route.
type Nexthop struct {
	Via netip.Addr `json:"via,omitzero"`
	Dev string     `json:"dev,omitempty"`
}

var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true, "anycast": true,
	"blackhole": true, "unreachable": true, "prohibit": true, "throw": true, "nat": true,
}

// ParseRoutes parses `ip route` / `ip route show table all` / `ip -6 route`
// output as iproute2 prints it. file names the source in errors.
func ParseRoutes(file string, data []byte) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Text()
		if strings.TrimSpace(raw) == "" {
			continue
		}
		fields := strings.Fields(raw)
		if fields[0] == "nexthop" {
			// continuation of a multipath route
			if len(out) == 0 {
				return nil, fmt.Errorf("%s:%d: nexthop line without a route", file, lineNo)
			}
			nh, err := parseNexthop(fields[1:])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, lineNo, err)
			}
			r := &out[len(out)-1]
			r.Nexthops = append(r.Nexthops, nh)
			if !r.Via.IsValid() {
				r.Via = nh.Via
			}
			continue
		}
		r, err := parseRoute(fields)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, lineNo, err)
		}
		r.Line = lineNo
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

func parseRoute(f []string) (r Route, err error) {
	r = Route{Type: "unicast", Table: "main"}
	i := 0
	if routeTypes[f[0]] {
		r.Type = f[0]
		i++
	}
	if i >= len(f) {
		return r, fmt.Errorf("route type %s without a destination", r.Type)
	}
	dst, err := parseDst(f[i])
	if err != nil {
		return r, err
	}
	r.Dst = dst
	isDefault := f[i] == "default"
	i++
	defer func() {
		if isDefault && (r.Via.Is6() || r.Src.Is6()) {
			r.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}()
	for i < len(f) {
		k := f[i]
		val := func() (string, error) {
			if i+1 >= len(f) {
				return "", fmt.Errorf("%q without a value", k)
			}
			i++
			return f[i], nil
		}
		switch k {
		case "via":
			v, err := val()
			if err != nil {
				return r, err
			}
			if v == "inet" || v == "inet6" { // "via inet6 fe80::1"
				if v, err = val(); err != nil {
					return r, err
				}
			}
			a, err := netip.ParseAddr(v)
			if err != nil {
				return r, fmt.Errorf("via %q: %w", v, err)
			}
			r.Via = a
		case "src":
			v, err := val()
			if err != nil {
				return r, err
			}
			a, err := netip.ParseAddr(v)
			if err != nil {
				return r, fmt.Errorf("src %q: %w", v, err)
			}
			r.Src = a
		case "metric":
			v, err := val()
			if err != nil {
				return r, err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return r, fmt.Errorf("metric %q: %w", v, err)
			}
			r.Metric = n
		case "dev":
			v, err := val()
			if err != nil {
				return r, err
			}
			r.Dev = v
		case "table":
			v, err := val()
			if err != nil {
				return r, err
			}
			r.Table = v
		case "proto":
			v, err := val()
			if err != nil {
				return r, err
			}
			r.Proto = v
		case "scope":
			v, err := val()
			if err != nil {
				return r, err
			}
			r.Scope = v
		case "linkdown":
			r.Linkdown = true
		case "onlink", "dead", "pervasive", "offload", "trap", "notify", "rt_offload", "rt_trap", "rt_offload_failed":
			// flags without a value
		case "nexthop":
			nh, err := parseNexthop(f[i+1:])
			if err != nil {
				return r, err
			}
			r.Nexthops = append(r.Nexthops, nh)
			if !r.Via.IsValid() {
				r.Via = nh.Via
			}
			i = len(f)
			continue
		default:
			// key value attributes: pref, mtu, advmss, expires, weight, realms, ...
			if i+1 < len(f) {
				i++
			}
		}
		i++
	}
	return r, nil
}

func parseNexthop(f []string) (Nexthop, error) {
	var nh Nexthop
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "via":
			if i+1 >= len(f) {
				return nh, fmt.Errorf("nexthop via without an address")
			}
			i++
			if f[i] == "inet" || f[i] == "inet6" {
				i++
				if i >= len(f) {
					return nh, fmt.Errorf("nexthop via without an address")
				}
			}
			a, err := netip.ParseAddr(f[i])
			if err != nil {
				return nh, fmt.Errorf("nexthop via %q: %w", f[i], err)
			}
			nh.Via = a
		case "dev":
			if i+1 < len(f) {
				i++
				nh.Dev = f[i]
			}
		case "nexthop":
			return nh, nil
		}
	}
	return nh, nil
}

func parseDst(s string) (netip.Prefix, error) {
	switch s {
	case "default":
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("destination %q: %w", s, err)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("destination %q: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Lookup returns the route the kernel would pick for dst in table (longest
// prefix, then lowest metric), considering every route type (a blackhole
// or unreachable route wins like any other). ok is false when no route
// matches.
func Lookup(routes []Route, table string, dst netip.Addr) (Route, bool) {
	var best Route
	found := false
	for _, r := range routes {
		if r.Table != table || !r.Dst.Contains(dst) {
			continue
		}
		if r.Type == "broadcast" || r.Type == "local" || r.Type == "multicast" {
			continue
		}
		if !found || r.Dst.Bits() > best.Dst.Bits() || (r.Dst.Bits() == best.Dst.Bits() && r.Metric < best.Metric) {
			best, found = r, true
		}
	}
	return best, found
}
