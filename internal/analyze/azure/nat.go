package azure

import (
	"fmt"
	"strconv"
	"strings"

	azr "github.com/netdoctor/netdoctor/internal/azure"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/nodedata"
)

// keepaliveSysctl is the node's idle time before the first TCP keepalive.
const keepaliveSysctl = "net.ipv4.tcp_keepalive_time"

// natGateway finds the NAT gateway of the node subnet (or the only one).
func (c *context) natGateway() *azr.NATGateway {
	if c.subnet != nil {
		for i := range c.set.NATGateways {
			ng := &c.set.NATGateways[i]
			if c.subnet.NatGateway != nil && azr.SameID(c.subnet.NatGateway.ID, ng.ID) {
				return ng
			}
			for _, sn := range ng.Subnets {
				if azr.SameID(sn.ID, c.subnet.ID) {
					return ng
				}
			}
		}
	}
	if len(c.set.NATGateways) == 1 {
		return &c.set.NATGateways[0]
	}
	return nil
}

// checkNATGateway is EGR005: the subnet's association and the idle timeout.
func (c *context) checkNATGateway(r *finding.Result) {
	ng := c.natGateway()
	if ng == nil {
		if len(c.set.NATGateways) > 1 {
			r.Check(checkNAT, finding.Skipped, "several NAT gateways and no way to tell which is the node subnet's: add the subnet (az network vnet subnet show)")
		} else {
			r.Check(checkNAT, finding.Skipped, "no NAT gateway in the Azure data (az network nat gateway show)")
		}
		return
	}
	rg := rgOf(ng.ID)
	subj := finding.Subject{Kind: "NATGateway", Namespace: rg, Name: ng.Name}
	failed := false
	var notes []string
	if c.subnet == nil {
		notes = append(notes, "association not checked: the node subnet is not in the Azure data (az network vnet subnet show)")
	} else {
		assoc := c.subnet.NatGateway != nil && azr.SameID(c.subnet.NatGateway.ID, ng.ID)
		for _, sn := range ng.Subnets {
			assoc = assoc || azr.SameID(sn.ID, c.subnet.ID)
		}
		if !assoc {
			failed = true
			var listed []string
			for _, sn := range ng.Subnets {
				listed = append(listed, sn.ID)
			}
			if len(listed) == 0 {
				listed = []string{"none"}
			}
			r.Add(finding.Finding{
				Code: "EGR005", Severity: finding.Critical,
				Title:    fmt.Sprintf("node subnet %s is not associated with NAT gateway %s", c.subnet.Name, ng.Name),
				Subjects: []finding.Subject{subj, {Kind: "Subnet", Namespace: rgOf(c.subnet.ID), Name: c.subnet.Name}},
				Evidence: []string{
					fmt.Sprintf("NAT gateway %s subnets: %s", ng.Name, strings.Join(listed, ", ")),
					fmt.Sprintf("subnet %s natGateway: %s", c.subnet.ID, refText(c.subnet.NatGateway)),
					"outbound type from " + c.outboundFrom,
				},
				Explanation: "Egress uses a NAT gateway only from subnets associated with it. The node subnet is not, so with outbound type " + c.outbound + " the nodes have no outbound path from it.",
				Remediation: []string{
					fmt.Sprintf("az network vnet subnet update --ids %s --nat-gateway %s", c.subnet.ID, ng.ID),
					fmt.Sprintf("az network nat gateway show -g %s -n %s --query \"subnets[].id\"  # confirm", rg, ng.Name),
				},
			})
		}
	}
	idle := ng.IdleTimeoutInMinutes
	if idle == 0 {
		idle = azr.NATDefaultIdleTimeout
	}
	// Idle timeout against the nodes' keepalive time.
	var slow []string
	maxKA := 0
	checked := 0
	for _, node := range c.s.NodesWithFiles() {
		b, ok := c.s.NodeFile(node, nodedata.FileSysctls)
		if !ok {
			continue
		}
		sys, err := nodedata.ParseSysctls(node, b)
		if err != nil {
			continue
		}
		v, ok := sys[keepaliveSysctl]
		if !ok {
			continue
		}
		ka, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		checked++
		if ka > idle*60 {
			slow = append(slow, node)
			maxKA = max(maxKA, ka)
		}
	}
	switch {
	case len(slow) > 0:
		failed = true
		r.Add(finding.Finding{
			Code: "EGR005", Severity: finding.Warning,
			Title:    fmt.Sprintf("NAT gateway %s drops TCP flows idle for %d min; nodes send the first keepalive after %d s", ng.Name, idle, maxKA),
			Subjects: append([]finding.Subject{subj}, nodeSubjects(slow)...),
			Evidence: []string{
				fmt.Sprintf("NAT gateway %s idleTimeoutInMinutes: %d", ng.Name, idle),
				fmt.Sprintf("%s on %s: %d s", keepaliveSysctl, strings.Join(slow, ", "), maxKA),
			},
			Explanation: "A connection idle longer than the NAT gateway's timeout loses its SNAT mapping without either end being told; the next packet on it is dropped or reset. " +
				"Pooled database and HTTP connections that sit idle for minutes then fail on first use.",
			Remediation: []string{
				fmt.Sprintf("az network nat gateway update -g %s -n %s --idle-timeout 30  # up to 120 minutes", rg, ng.Name),
				"Or have the application enable TCP keepalive with an interval below the timeout (or lower " + keepaliveSysctl + " in the pod's network namespace).",
			},
		})
	case checked == 0:
		notes = append(notes, fmt.Sprintf("idle timeout %d min; not compared with the nodes' TCP keepalive (%s not in the node data)", idle, keepaliveSysctl))
	default:
		notes = append(notes, fmt.Sprintf("idle timeout %d min covers the nodes' TCP keepalive", idle))
	}
	if failed {
		r.Check(checkNAT, finding.Failed, "see EGR005")
		return
	}
	reason := fmt.Sprintf("NAT gateway %s", ng.Name)
	if c.subnet != nil {
		reason += " is associated with subnet " + c.subnet.Name
	}
	if len(notes) > 0 {
		reason += "; " + strings.Join(notes, "; ")
	}
	r.Check(checkNAT, finding.Passed, reason)
}

func refText(r *azr.SubResource) string {
	if r == nil || r.ID == "" {
		return "none"
	}
	return r.ID
}
