package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"sort"
	"strings"
)

// Dir is the bundle folder holding Azure resource JSON: azure/<name>.json.
const Dir = "azure/"

// Set is every Azure resource found in a bundle, by kind.
type Set struct {
	Clusters      []ManagedCluster
	LoadBalancers []LoadBalancer
	NATGateways   []NATGateway
	RouteTables   []RouteTable
	NSGs          []NSG
	Subnets       []Subnet
	Metrics       []MetricsResponse
	PublicIPs     []PublicIP
	VNets         []VirtualNetwork
	// Ignored lists resources of types netdoctor does not read, as
	// "file: type".
	Ignored []string
	// Files lists the bundle paths read, sorted.
	Files []string
}

// Empty reports whether the set holds no resource at all.
func (s *Set) Empty() bool {
	return len(s.Clusters)+len(s.LoadBalancers)+len(s.NATGateways)+len(s.RouteTables)+
		len(s.NSGs)+len(s.Subnets)+len(s.Metrics)+len(s.PublicIPs)+len(s.VNets) == 0
}

// Cluster returns the first managed cluster, or nil.
func (s *Set) Cluster() *ManagedCluster {
	if len(s.Clusters) == 0 {
		return nil
	}
	return &s.Clusters[0]
}

// NSGByID returns the NSG with that ID, or nil.
func (s *Set) NSGByID(id string) *NSG {
	for i := range s.NSGs {
		if SameID(s.NSGs[i].ID, id) {
			return &s.NSGs[i]
		}
	}
	return nil
}

// RouteTableByID returns the route table with that ID, or nil.
func (s *Set) RouteTableByID(id string) *RouteTable {
	for i := range s.RouteTables {
		if SameID(s.RouteTables[i].ID, id) {
			return &s.RouteTables[i]
		}
	}
	return nil
}

// Load decodes every azure/*.json file of a bundle's files. It returns the
// resources it could read and one error per file it could not (the error
// names the file, and the line for syntax errors).
func Load(files map[string][]byte) (*Set, []error) {
	set := &Set{}
	var names []string
	for p := range files {
		if strings.HasPrefix(p, Dir) && strings.HasSuffix(p, ".json") {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := set.Add(name, files[name]); err != nil {
			errs = append(errs, err)
			continue
		}
		set.Files = append(set.Files, name)
	}
	return set, errs
}

// Add decodes one file (a resource, an array of resources, or a metrics
// response) and adds what it holds to the set. Resources of other types are
// listed in Ignored. The kind comes from the
// "type" field; files without one are classified by their name (aks*, lb*,
// natgw*, route*, nsg*, subnet*, metrics*).
func (s *Set) Add(name string, data []byte) error {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return syntaxError(name, data, err)
	}
	raw = flatten(raw)
	items, ok := raw.([]any)
	if !ok {
		items = []any{raw}
	}
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: item %d: not a JSON object", name, i)
		}
		if err := s.addObject(name, obj); err != nil {
			if len(items) > 1 {
				return fmt.Errorf("%s: item %d: %w", name, i, err)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (s *Set) addObject(name string, obj map[string]any) error {
	kind := kindOf(name, obj)
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	switch kind {
	case TypeManagedCluster:
		var v ManagedCluster
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.Clusters = append(s.Clusters, v)
	case TypeLoadBalancer:
		var v LoadBalancer
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.LoadBalancers = append(s.LoadBalancers, v)
	case TypeNATGateway:
		var v NATGateway
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.NATGateways = append(s.NATGateways, v)
	case TypeRouteTable:
		var v RouteTable
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.RouteTables = append(s.RouteTables, v)
	case TypeNSG:
		var v NSG
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.NSGs = append(s.NSGs, v)
	case TypeSubnet:
		var v Subnet
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.Subnets = append(s.Subnets, v)
	case TypeVirtualNetwork:
		var v VirtualNetwork
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.VNets = append(s.VNets, v)
		// Its subnets count as subnets, unless given on their own too.
		for _, sn := range v.Subnets {
			known := false
			for _, have := range s.Subnets {
				known = known || SameID(have.ID, sn.ID)
			}
			if !known {
				s.Subnets = append(s.Subnets, sn)
			}
		}
	case TypePublicIP:
		var v PublicIP
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.PublicIPs = append(s.PublicIPs, v)
	case TypeMetrics:
		var v MetricsResponse
		if err := strictField(json.Unmarshal(b, &v)); err != nil {
			return err
		}
		s.Metrics = append(s.Metrics, v)
	default:
		t, _ := obj["type"].(string)
		if t == "" {
			return errors.New(`unknown resource: no "type" field and the file name does not say (aks, lb, natgw, route, nsg, subnet, metrics)`)
		}
		s.Ignored = append(s.Ignored, fmt.Sprintf("%s: %s", name, t))
	}
	return nil
}

// kindOf classifies a decoded object.
func kindOf(name string, obj map[string]any) string {
	if t, _ := obj["type"].(string); t != "" {
		for _, k := range []string{TypeManagedCluster, TypeLoadBalancer, TypeNATGateway, TypeRouteTable, TypeNSG, TypeSubnet, TypePublicIP, TypeVirtualNetwork} {
			if strings.EqualFold(t, k) {
				return k
			}
		}
		return "other"
	}
	// A metrics response has no type of its own; its values do.
	if vals, ok := obj["value"].([]any); ok {
		if _, hasTS := obj["timespan"]; hasTS || len(vals) == 0 {
			return TypeMetrics
		}
		if m, ok := vals[0].(map[string]any); ok {
			if t, _ := m["type"].(string); strings.EqualFold(t, TypeMetrics) {
				return TypeMetrics
			}
		}
	}
	base := strings.ToLower(path.Base(name))
	for _, p := range []struct{ prefix, kind string }{
		{"aks", TypeManagedCluster}, {"cluster", TypeManagedCluster},
		{"lb", TypeLoadBalancer}, {"loadbalancer", TypeLoadBalancer},
		{"natgw", TypeNATGateway}, {"nat", TypeNATGateway},
		{"route", TypeRouteTable}, {"udr", TypeRouteTable},
		{"nsg", TypeNSG}, {"subnet", TypeSubnet}, {"metrics", TypeMetrics}, {"public-ip", TypePublicIP}, {"pip", TypePublicIP}, {"vnet", TypeVirtualNetwork},
	} {
		if strings.HasPrefix(base, p.prefix) {
			return p.kind
		}
	}
	return ""
}

// flatten lifts every nested "properties" object into its parent (the REST
// shape) so that the az CLI's flattened shape and the REST shape decode the
// same way. Keys already on the parent win.
func flatten(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if props, ok := t["properties"].(map[string]any); ok {
			delete(t, "properties")
			for k, pv := range props {
				if _, exists := t[k]; !exists {
					t[k] = pv
				}
			}
		}
		for k, c := range t {
			t[k] = flatten(c)
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = flatten(c)
		}
		return t
	}
	return v
}

// strictField rewrites a type error so that it names the JSON field.
func strictField(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: got JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return err
}

// syntaxError names the file and line of a JSON syntax error.
func syntaxError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("%s:%d: invalid JSON: %w", name, line, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		line := 1 + bytes.Count(data, []byte("\n"))
		return fmt.Errorf("%s:%d: invalid JSON: unexpected end of input", name, line)
	}
	return fmt.Errorf("%s: invalid JSON: %w", name, err)
}

// NSGByName returns the NSG with that name, or nil.
func (s *Set) NSGByName(name string) *NSG {
	for i := range s.NSGs {
		if strings.EqualFold(s.NSGs[i].Name, name) {
			return &s.NSGs[i]
		}
	}
	return nil
}

// VNetPrefixes are the address prefixes the VirtualNetwork tag covers, as far
// as the data says: the virtual networks' address spaces, their connected
// peerings' and every subnet's prefixes.
func (s *Set) VNetPrefixes() []netip.Prefix {
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	add := func(ps []string) {
		for _, p := range ps {
			if pf, err := netip.ParsePrefix(strings.TrimSpace(p)); err == nil && !seen[pf.Masked()] {
				seen[pf.Masked()] = true
				out = append(out, pf.Masked())
			}
		}
	}
	for _, v := range s.VNets {
		add(v.AddressSpace.AddressPrefixes)
		for _, p := range v.VirtualNetworkPeerings {
			if p.PeeringState == "" || strings.EqualFold(p.PeeringState, "Connected") {
				add(p.RemoteAddressSpace.AddressPrefixes)
			}
		}
	}
	for _, sn := range s.Subnets {
		add(sn.Prefixes())
	}
	return out
}

// HasVNet reports whether a virtual network's address space is known (then
// an address outside VNetPrefixes is outside the VNet and its peerings).
func (s *Set) HasVNet() bool { return len(s.VNets) > 0 }
