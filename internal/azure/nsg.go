package azure

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Access values of an NSG verdict.
const (
	Allow   = "Allow"
	Deny    = "Deny"
	Unknown = "Unknown"
)

// Service tags netdoctor can expand; every other tag (AzureCloud, Storage,
// ...) and application security groups make a rule "unknown", never guessed.
const (
	TagInternet          = "Internet"
	TagVirtualNetwork    = "VirtualNetwork"
	TagAzureLoadBalancer = "AzureLoadBalancer"
)

// AzureLoadBalancerIP is the address the AzureLoadBalancer tag stands for.
var AzureLoadBalancerIP = netip.MustParseAddr("168.63.129.16")

// Flow is an outbound flow to evaluate. Protocol is Tcp, Udp or Icmp.
type Flow struct {
	Src, Dst netip.Addr
	DstPort  int
	Protocol string
}

func (f Flow) String() string {
	if f.DstPort > 0 {
		return fmt.Sprintf("%s %s -> %s:%d", strings.ToUpper(f.Protocol), f.Src, f.Dst, f.DstPort)
	}
	return fmt.Sprintf("%s %s -> %s", strings.ToUpper(f.Protocol), f.Src, f.Dst)
}

// Env says what the VirtualNetwork tag covers: the virtual network's (and
// peered networks') address prefixes. Private addresses outside them are
// neither surely VirtualNetwork nor surely Internet.
type Env struct {
	VNetPrefixes []netip.Prefix
}

// RuleRef names a rule of an NSG.
type RuleRef struct {
	NSG      string
	Rule     SecurityRule
	Default  bool
	Priority int
}

func (r RuleRef) String() string {
	kind := "rule"
	if r.Default {
		kind = "default rule"
	}
	return fmt.Sprintf("%s %s (priority %d, %s) of NSG %s", kind, r.Rule.Name, r.Priority, r.Rule.Access, r.NSG)
}

// Verdict is the outcome of evaluating a flow against one NSG.
type Verdict struct {
	// Access is Allow, Deny or Unknown.
	Access string
	// Decider is the rule that decided (for Unknown: the rule netdoctor
	// could not evaluate, which comes before any rule that would decide).
	Decider *RuleRef
	// Reason explains an Unknown verdict.
	Reason string
}

// DefaultOutboundRules are the outbound default rules every NSG has; used
// when an NSG document omits defaultSecurityRules.
var DefaultOutboundRules = []SecurityRule{
	{Name: "AllowVnetOutBound", Protocol: "*", SourcePortRange: "*", DestinationPortRange: "*", SourceAddressPrefix: "VirtualNetwork", DestinationAddressPrefix: "VirtualNetwork", Access: Allow, Priority: 65000, Direction: "Outbound"},
	{Name: "AllowInternetOutBound", Protocol: "*", SourcePortRange: "*", DestinationPortRange: "*", SourceAddressPrefix: "*", DestinationAddressPrefix: "Internet", Access: Allow, Priority: 65001, Direction: "Outbound"},
	{Name: "DenyAllOutBound", Protocol: "*", SourcePortRange: "*", DestinationPortRange: "*", SourceAddressPrefix: "*", DestinationAddressPrefix: "*", Access: Deny, Priority: 65500, Direction: "Outbound"},
}

// OutboundRules returns the NSG's outbound rules, custom and default, in
// evaluation order (priority ascending).
func (n *NSG) OutboundRules() []RuleRef {
	var out []RuleRef
	for _, r := range n.SecurityRules {
		if strings.EqualFold(r.Direction, "Outbound") {
			out = append(out, RuleRef{NSG: n.Name, Rule: r, Priority: r.Priority})
		}
	}
	defaults := n.DefaultSecurityRules
	if len(defaults) == 0 {
		defaults = DefaultOutboundRules
	}
	for _, r := range defaults {
		if strings.EqualFold(r.Direction, "Outbound") {
			out = append(out, RuleRef{NSG: n.Name, Rule: r, Default: true, Priority: r.Priority})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

// match is a tri-state rule match.
type match int

const (
	noMatch match = iota
	yesMatch
	maybeMatch
)

// EvaluateOutbound returns the NSG's verdict on an outbound flow: the first
// rule, by priority, that matches decides. A rule netdoctor cannot evaluate
// (an unexpandable service tag, an application security group, a private
// address that may or may not be in a peered network) reached before a
// deciding rule makes the verdict Unknown, naming that rule.
func (n *NSG) EvaluateOutbound(f Flow, env Env) Verdict {
	for _, ref := range n.OutboundRules() {
		m, why := ruleMatches(ref.Rule, f, env)
		switch m {
		case yesMatch:
			r := ref
			access := Allow
			if strings.EqualFold(ref.Rule.Access, Deny) {
				access = Deny
			}
			return Verdict{Access: access, Decider: &r}
		case maybeMatch:
			r := ref
			return Verdict{Access: Unknown, Decider: &r, Reason: why}
		}
	}
	return Verdict{Access: Deny, Reason: "no rule matched"}
}

// EffectiveOutbound evaluates a flow leaving a VM: the NIC's NSG first, then
// the subnet's (either may be nil). Both must allow. The deciding rule is
// the first deny (or unknown), else the subnet's allow, else the NIC's.
func EffectiveOutbound(nic, subnet *NSG, f Flow, env Env) Verdict {
	var last Verdict
	evaluated := false
	for _, n := range []*NSG{nic, subnet} {
		if n == nil {
			continue
		}
		v := n.EvaluateOutbound(f, env)
		if v.Access != Allow {
			return v
		}
		last, evaluated = v, true
	}
	if !evaluated {
		return Verdict{Access: Allow, Reason: "no NSG on the NIC or the subnet"}
	}
	return last
}

func ruleMatches(r SecurityRule, f Flow, env Env) (match, string) {
	if !protocolMatches(r.Protocol, f.Protocol) {
		return noMatch, ""
	}
	if f.DstPort > 0 || !strings.EqualFold(f.Protocol, "Icmp") {
		ok, err := portMatches(ranges(r.DestinationPortRange, r.DestinationPortRanges), f.DstPort)
		if err != nil {
			return maybeMatch, err.Error()
		}
		if !ok {
			return noMatch, ""
		}
	}
	src := addrMatches(prefixes(r.SourceAddressPrefix, r.SourceAddressPrefixes), len(r.SourceApplicationSecurityGroups) > 0, f.Src, env)
	if src.m == noMatch {
		return noMatch, ""
	}
	dst := addrMatches(prefixes(r.DestinationAddressPrefix, r.DestinationAddressPrefixes), len(r.DestinationApplicationSecurityGroups) > 0, f.Dst, env)
	if dst.m == noMatch {
		return noMatch, ""
	}
	if src.m == maybeMatch {
		return maybeMatch, "source " + src.why
	}
	if dst.m == maybeMatch {
		return maybeMatch, "destination " + dst.why
	}
	return yesMatch, ""
}

func protocolMatches(rule, flow string) bool {
	return rule == "" || rule == "*" || strings.EqualFold(rule, flow)
}

func ranges(one string, many []string) []string {
	if len(many) > 0 {
		return many
	}
	if one == "" {
		return []string{"*"}
	}
	return []string{one}
}

func prefixes(one string, many []string) []string { return ranges(one, many) }

// portMatches reports whether port is in any of "*", "80", "1000-2000".
func portMatches(specs []string, port int) (bool, error) {
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "*" {
			return true, nil
		}
		lo, hi, isRange := strings.Cut(s, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return false, fmt.Errorf("port range %q is not understood", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return false, fmt.Errorf("port range %q is not understood", s)
			}
		}
		if port >= a && port <= b {
			return true, nil
		}
	}
	return false, nil
}

type addrMatch struct {
	m   match
	why string
}

// addrMatches evaluates an address against prefixes and tags.
func addrMatches(specs []string, asg bool, a netip.Addr, env Env) addrMatch {
	if asg {
		return addrMatch{maybeMatch, "is an application security group, which netdoctor does not expand"}
	}
	var maybe addrMatch
	for _, s := range specs {
		s = strings.TrimSpace(s)
		switch {
		case s == "*" || strings.EqualFold(s, "Any") || s == "0.0.0.0/0":
			return addrMatch{m: yesMatch}
		case strings.EqualFold(s, TagAzureLoadBalancer):
			if a == AzureLoadBalancerIP {
				return addrMatch{m: yesMatch}
			}
		case strings.EqualFold(s, TagVirtualNetwork):
			switch inVNet(a, env) {
			case yesMatch:
				return addrMatch{m: yesMatch}
			case maybeMatch:
				maybe = addrMatch{maybeMatch, fmt.Sprintf("tag VirtualNetwork: %s is a private address outside the known virtual network prefixes (a peered network or on-premises range would count)", a)}
			}
		case strings.EqualFold(s, TagInternet):
			switch inVNet(a, env) {
			case noMatch:
				return addrMatch{m: yesMatch}
			case maybeMatch:
				maybe = addrMatch{maybeMatch, fmt.Sprintf("tag Internet: %s is a private address outside the known virtual network prefixes", a)}
			}
		default:
			if p, err := netip.ParsePrefix(s); err == nil {
				if p.Contains(a) {
					return addrMatch{m: yesMatch}
				}
				continue
			}
			if ip, err := netip.ParseAddr(s); err == nil {
				if ip == a {
					return addrMatch{m: yesMatch}
				}
				continue
			}
			if maybe.m == noMatch {
				maybe = addrMatch{maybeMatch, fmt.Sprintf("uses service tag %q, which netdoctor does not expand", s)}
			}
		}
	}
	return maybe
}

// inVNet says whether an address is in the virtual network: yes when a
// known prefix holds it, no when it is a public address (or the known
// prefixes are complete and it is outside), maybe for other private space.
func inVNet(a netip.Addr, env Env) match {
	for _, p := range env.VNetPrefixes {
		if p.Contains(a) {
			return yesMatch
		}
	}
	if IsPrivate(a) {
		return maybeMatch
	}
	return noMatch
}

var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// IsPrivate reports whether an address is in private (RFC 1918, shared
// 100.64/10, link-local, loopback, ULA) space, i.e. not a public destination
// that needs SNAT.
func IsPrivate(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range privatePrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// SampleFlow builds a concrete outbound flow a rule applies to, from src:
// its first destination port and protocol (TCP for "*"), and a destination
// inside its destination prefix (a public address for "*" or Internet).
// ok is false when the rule's destination is a tag netdoctor cannot expand.
func SampleFlow(r SecurityRule, src netip.Addr) (Flow, bool) {
	f := Flow{Src: src, Protocol: "Tcp"}
	if p := strings.TrimSpace(r.Protocol); p != "" && p != "*" {
		f.Protocol = p
	}
	port := ranges(r.DestinationPortRange, r.DestinationPortRanges)[0]
	if port == "*" {
		f.DstPort = 443
	} else {
		lo, _, _ := strings.Cut(port, "-")
		n, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return f, false
		}
		f.DstPort = n
	}
	dst := prefixes(r.DestinationAddressPrefix, r.DestinationAddressPrefixes)[0]
	switch {
	case dst == "*" || strings.EqualFold(dst, TagInternet) || dst == "0.0.0.0/0":
		f.Dst = SamplePublicIP
	case strings.EqualFold(dst, TagAzureLoadBalancer):
		f.Dst = AzureLoadBalancerIP
	default:
		if p, err := netip.ParsePrefix(dst); err == nil {
			a := p.Masked().Addr()
			if p.Bits() < a.BitLen() {
				a = a.Next()
			}
			f.Dst = a
		} else if ip, err := netip.ParseAddr(dst); err == nil {
			f.Dst = ip
		} else {
			return f, false
		}
	}
	return f, true
}

// SamplePublicIP stands for "some Internet destination" in sample flows
// (TEST-NET-1, documentation space: never a real host).
var SamplePublicIP = netip.MustParseAddr("192.0.2.200")
