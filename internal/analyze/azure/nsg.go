package azure

import (
	"fmt"
	"net/netip"
	"strings"

	azr "github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/finding"
)

// nsgs finds the NSGs on the node path: the subnet's and the NICs'.
func (c *context) nsgs() (nic, subnet *azr.NSG) {
	if c.subnet != nil && c.subnet.NetworkSecurityGroup != nil {
		subnet = c.set.NSGByID(c.subnet.NetworkSecurityGroup.ID)
	}
	for i := range c.set.NSGs {
		n := &c.set.NSGs[i]
		if subnet == nil && c.subnet != nil {
			for _, sn := range n.Subnets {
				if azr.SameID(sn.ID, c.subnet.ID) {
					subnet = n
				}
			}
		}
		if nic == nil && len(n.NetworkInterfaces) > 0 && n != subnet {
			nic = n
		}
	}
	if subnet == nil && nic == nil && len(c.set.NSGs) == 1 {
		subnet = &c.set.NSGs[0]
	}
	return nic, subnet
}

// required are flows every AKS node needs (API server, images, updates).
var required = []struct {
	what string
	port int
	prot string
}{
	{"TCP 443 to the Internet (API server, container registries)", 443, "Tcp"},
}

// checkNSG is EGR003: the effective outbound verdict of the nodes' NSGs for
// the traffic the nodes send or need, naming the deciding rule.
func (c *context) checkNSG(r *finding.Result) {
	nic, subnet := c.nsgs()
	if nic == nil && subnet == nil {
		if len(c.set.NSGs) > 1 {
			r.Check(checkNSG, finding.Skipped, "several NSGs and no way to tell which guard the nodes: add the subnet (az network vnet subnet show)")
		} else {
			r.Check(checkNSG, finding.Skipped, "no NSG in the Azure data (az network nsg show)")
		}
		return
	}
	env := azr.Env{VNetPrefixes: c.vnet}
	src := c.nodeSrc()
	var names []string
	for _, n := range []*azr.NSG{nic, subnet} {
		if n != nil {
			names = append(names, n.Name)
		}
	}
	type denied struct {
		flow    azr.Flow
		verdict azr.Verdict
		why     string
		sev     finding.Severity
	}
	var found []denied
	seenRule := map[string]bool{}
	var unknown []string
	add := func(f azr.Flow, why func() string, sev finding.Severity) {
		v := azr.EffectiveOutbound(nic, subnet, f, env)
		switch v.Access {
		case azr.Deny:
			key := ""
			if v.Decider != nil {
				key = v.Decider.NSG + "/" + v.Decider.Rule.Name
			}
			if seenRule[key] {
				// Same rule: raise the severity if this flow matters more.
				for i := range found {
					if found[i].verdict.Decider != nil && found[i].verdict.Decider.NSG+"/"+found[i].verdict.Decider.Rule.Name == key {
						if sev.Rank() > found[i].sev.Rank() {
							found[i].sev, found[i].why, found[i].flow = sev, why(), f
						}
					}
				}
				return
			}
			seenRule[key] = true
			found = append(found, denied{f, v, why(), sev})
		case azr.Unknown:
			unknown = append(unknown, fmt.Sprintf("%s: %s at %s", f, v.Reason, v.Decider))
		}
	}
	// Traffic the nodes need.
	for _, req := range required {
		what := req.what
		add(azr.Flow{Src: src, Dst: azr.SamplePublicIP, DstPort: req.port, Protocol: req.prot}, func() string { return "AKS nodes need " + what }, finding.Critical)
	}
	// Traffic the nodes send (connections.json), stuck or not.
	for _, o := range c.observedPublic() {
		sev := finding.Warning
		if o.failing() {
			sev = finding.Critical
		}
		add(azr.Flow{Src: src, Dst: o.dst.Addr(), DstPort: int(o.dst.Port()), Protocol: "Tcp"},
			func() string { return strings.Join(o.describe(""), "; ") }, sev)
	}
	// Every custom outbound deny rule, on a sample flow it covers: does it
	// decide for traffic from the nodes?
	for _, n := range []*azr.NSG{nic, subnet} {
		if n == nil {
			continue
		}
		for _, rule := range n.SecurityRules {
			if !strings.EqualFold(rule.Direction, "Outbound") || !strings.EqualFold(rule.Access, azr.Deny) {
				continue
			}
			f, ok := azr.SampleFlow(rule, src)
			if !ok {
				unknown = append(unknown, fmt.Sprintf("rule %s of %s: destination %q is a tag netdoctor does not expand", rule.Name, n.Name, rule.DestinationAddressPrefix))
				continue
			}
			sev := finding.Warning
			if !azr.IsPrivate(f.Dst) {
				sev = finding.Critical // outbound to the Internet from the nodes
			}
			add(f, func() string { return "the rule denies outbound traffic from the node subnet" }, sev)
		}
	}
	if len(found) == 0 {
		reason := fmt.Sprintf("NSG %s: nodes' outbound traffic allowed (checked TCP 443 to the Internet, %d observed destinations, and every custom outbound deny rule)",
			strings.Join(names, " and "), len(c.observedPublic()))
		if len(unknown) > 0 {
			reason += "; not evaluated: " + strings.Join(unknown, "; ")
		}
		r.Check(checkNSG, finding.Passed, reason)
		return
	}
	var titles []string
	for _, d := range found {
		v := d.verdict
		rule := v.Decider.Rule
		title := fmt.Sprintf("NSG %s rule %s (priority %d) denies outbound %s", v.Decider.NSG, rule.Name, rule.Priority, strings.ToUpper(d.flow.Protocol))
		if d.flow.DstPort > 0 {
			title += fmt.Sprintf(" port %d", d.flow.DstPort)
		}
		if azr.IsPrivate(d.flow.Dst) {
			title += " to " + d.flow.Dst.String()
		} else if d.flow.Dst == azr.SamplePublicIP {
			title += " to the Internet"
		} else {
			title += " to " + d.flow.Dst.String()
		}
		titles = append(titles, title)
		ev := []string{
			fmt.Sprintf("flow %s: denied by %s", d.flow, v.Decider),
			fmt.Sprintf("rule %s: %s %s, source %s, destination %s port %s", rule.Name, rule.Access, orStar(rule.Protocol), prefixText(rule.SourceAddressPrefix, rule.SourceAddressPrefixes), prefixText(rule.DestinationAddressPrefix, rule.DestinationAddressPrefixes), prefixText(rule.DestinationPortRange, rule.DestinationPortRanges)),
			d.why,
			fmt.Sprintf("evaluated in order: %s", strings.Join(names, ", then ")),
		}
		if d.flow.Dst == azr.SamplePublicIP {
			ev = append(ev, fmt.Sprintf("%s stands for any Internet destination", azr.SamplePublicIP))
		}
		if len(unknown) > 0 {
			ev = append(ev, "not evaluated: "+strings.Join(unknown, "; "))
		}
		nsg := c.set.NSGByName(v.Decider.NSG)
		rg := "<resource-group>"
		if nsg != nil {
			rg = rgOf(nsg.ID)
		}
		r.Add(finding.Finding{
			Code: "EGR003", Severity: d.sev, Title: title,
			Subjects: []finding.Subject{{Kind: "NetworkSecurityGroup", Namespace: rg, Name: v.Decider.NSG}},
			Evidence: ev,
			Explanation: "NSG rules are evaluated by priority, lowest number first; the first rule matching protocol, destination and port decides, and for outbound traffic the NIC's NSG and then the subnet's must both allow. " +
				"This rule matches the flow before any allow rule does, so the packets are dropped and the connection times out.",
			Remediation: []string{
				fmt.Sprintf("az network nsg rule show -g %s --nsg-name %s -n %s -o json  # review the rule", rg, v.Decider.NSG, rule.Name),
				fmt.Sprintf("az network nsg rule delete -g %s --nsg-name %s -n %s  # if it is not intended", rg, v.Decider.NSG, rule.Name),
				allowBefore(rg, v.Decider.NSG, rule, d.flow),
				fmt.Sprintf("az network watcher test-ip-flow --direction Outbound --protocol %s --local %s:* --remote %s:%d --vm <node VM or VMSS instance>  # confirm with Azure's own evaluation", protoFlag(d.flow.Protocol), d.flow.Src, d.flow.Dst, d.flow.DstPort),
			},
		})
	}
	r.Check(checkNSG, finding.Failed, strings.Join(titles, "; "))
}

// allowBefore is the command that lets the flow through ahead of the rule:
// an allow rule with a lower priority number, or, when the rule already has
// the lowest (100), moving the rule down first.
func allowBefore(rg, nsg string, rule azr.SecurityRule, f azr.Flow) string {
	create := func(prio int) string {
		return fmt.Sprintf("az network nsg rule create -g %s --nsg-name %s -n allow-%s-%d --priority %d --direction Outbound --access Allow --protocol %s --destination-port-ranges %d --destination-address-prefixes %s",
			rg, nsg, strings.ToLower(f.Protocol), f.DstPort, prio, protoFlag(f.Protocol), f.DstPort, destFlag(f.Dst))
	}
	if rule.Priority > 100 {
		return create(rule.Priority-1) + "  # or allow the traffic before it"
	}
	return fmt.Sprintf("az network nsg rule update -g %s --nsg-name %s -n %s --priority %d && %s  # or move the rule down and allow the traffic before it",
		rg, nsg, rule.Name, rule.Priority+10, create(rule.Priority))
}

func orStar(s string) string {
	if s == "" || s == "*" {
		return "any protocol"
	}
	return s
}

func prefixText(one string, many []string) string {
	if len(many) > 0 {
		return strings.Join(many, ",")
	}
	if one == "" {
		return "*"
	}
	return one
}

func protoFlag(p string) string {
	switch strings.ToLower(p) {
	case "udp":
		return "Udp"
	case "icmp":
		return "Icmp"
	}
	return "Tcp"
}

func destFlag(a netip.Addr) string {
	if a == azr.SamplePublicIP {
		return "Internet"
	}
	return a.String()
}
