// Package egress holds the analyzer of netdoctor's egress probe
// observations (probes/egress.json, written by `netdoctor probe -o json`):
// the same probes run from outside the cluster, from nodes and from pods,
// side by side.
//
//   - EGR004: TCP fails (intermittently) while UDP to the same target works,
//     and the node's ephemeral port range (net.ipv4.ip_local_port_range from
//     nodes/<node>/sysctls.json) or a SNAT/MASQUERADE port range in its
//     iptables (nodes/<node>/iptables-save.txt) reaches outside the range
//     the firewall lets TCP replies back in to (default 32768-65535).
//   - EGR006: the target fails from everywhere, outside the cluster too (or
//     every place is refused): the remote end, not the cluster.
//   - EGR007: the path works and the failure is HTTP-level (a status, or a
//     TLS error), with what the status means.
//
// docs/egress.md describes the file format and examples.
package egress

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Check names.
const (
	CheckProbes        = "egress/probes"
	CheckRemote        = "egress/remote-end"
	CheckHTTP          = "egress/http-level"
	CheckEphemeralPort = "egress/ephemeral-ports"
)

// Probes analyzes probes/egress.json.
func Probes(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	data, ok := s.File(probe.FilePath)
	if !ok {
		reason := "no egress probe observations (" + probe.FilePath + "): run 'netdoctor probe HOST:PORT -o json' and place its output there, or 'diagnose --probe'"
		for _, c := range []string{CheckProbes, CheckRemote, CheckHTTP, CheckEphemeralPort} {
			r.Check(c, finding.Skipped, reason)
		}
		return r
	}
	f, err := ParseFile(probe.FilePath, data)
	if err != nil {
		r.Check(CheckProbes, finding.Error, err.Error())
		return r
	}
	fw, err := parseRange(f.FirewallReturnPorts)
	if err != nil {
		r.Check(CheckProbes, finding.Error, fmt.Sprintf("%s: firewallReturnPorts: %v", probe.FilePath, err))
		return r
	}
	r.Check(CheckProbes, finding.Passed, fmt.Sprintf("%d probe run(s) read", len(f.Runs)))
	var remote, httpLevel, ports []finding.Finding
	var portReasons []string
	for _, run := range f.Runs {
		c := probe.Conclude(run.Legs)
		if fnd, ok := remoteEnd(run, c); ok {
			remote = append(remote, fnd)
		}
		if fnd, ok := httpFailure(run); ok {
			httpLevel = append(httpLevel, fnd)
		}
		fs, why := ephemeralPorts(s, run, fw)
		ports = append(ports, fs...)
		portReasons = append(portReasons, why...)
	}
	report := func(check string, fs []finding.Finding, passed string) {
		for _, x := range fs {
			r.Add(x)
		}
		if len(fs) > 0 {
			r.Check(check, finding.Failed, fmt.Sprintf("%d finding(s)", len(fs)))
		} else {
			r.Check(check, finding.Passed, passed)
		}
	}
	report(CheckRemote, remote, "no target failed from every place")
	report(CheckHTTP, httpLevel, "no HTTP-level failure over a working path")
	passed := "no target where TCP fails while UDP works"
	if len(portReasons) > 0 {
		passed += "; " + strings.Join(portReasons, "; ")
	}
	report(CheckEphemeralPort, ports, passed)
	return r
}

// ParseFile reads probes/egress.json; errors name the file and line.
func ParseFile(name string, data []byte) (probe.File, error) {
	var f probe.File
	if err := json.Unmarshal(data, &f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return f, fmt.Errorf("%s:%d: %w", name, lineOf(data, se.Offset), err)
		case errors.As(err, &te):
			return f, fmt.Errorf("%s:%d: %w", name, lineOf(data, te.Offset), err)
		}
		return f, fmt.Errorf("%s: %w", name, err)
	}
	if f.SchemaVersion != probe.FileSchema {
		return f, fmt.Errorf("%s: schemaVersion %q, want %q", name, f.SchemaVersion, probe.FileSchema)
	}
	return f, nil
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return 1 + strings.Count(string(data[:offset]), "\n")
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi int }

func (p portRange) String() string { return fmt.Sprintf("%d-%d", p.lo, p.hi) }

func parseRange(s string) (portRange, error) {
	if strings.TrimSpace(s) == "" {
		s = probe.DefaultFirewallReturnPorts
	}
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return portRange{}, fmt.Errorf("%q: want LOW-HIGH within 1-65535", s)
	}
	return portRange{lo, hi}, nil
}

// outside returns the parts of r that fall outside allowed.
func (r portRange) outside(allowed portRange) []portRange {
	var out []portRange
	if r.lo < allowed.lo {
		out = append(out, portRange{r.lo, min(r.hi, allowed.lo-1)})
	}
	if r.hi > allowed.hi {
		out = append(out, portRange{max(r.lo, allowed.hi+1), r.hi})
	}
	return out
}

func (r portRange) size() int { return r.hi - r.lo + 1 }

func target(run probe.Run) finding.Subject {
	return finding.Subject{Kind: "Target", Name: run.Target}
}

// remoteEnd is EGR006.
func remoteEnd(run probe.Run, c probe.Conclusion) (finding.Finding, bool) {
	if c.Locus != probe.LocusRemote {
		return finding.Finding{}, false
	}
	ev := append([]string{}, c.Evidence...)
	ev = append(ev, "conclusion: "+c.Summary)
	confirmed, inCluster := false, false
	for _, l := range run.Legs {
		if l.State().Verdict == probe.VerdictNotRun {
			continue
		}
		if l.Place.IsOutside() {
			confirmed = true
		} else {
			inCluster = true
		}
	}
	expl := "The target fails from outside the cluster as it does from the cluster's nodes and pods, so the cluster's egress is not where it breaks: the service is down on that port, the server is down, or the path to it is broken."
	if !inCluster {
		expl = "The target fails from outside the cluster (no node or pod probed it to compare): the service is down on that port, the server is down, or the path to it is broken; the cluster's egress is not needed to explain it."
	}
	if !confirmed {
		expl = "Every node and pod that probed the target was refused: a reset came back, so packets reach something that actively rejects them, which points at the remote end (nothing listening on that port) rather than the cluster's egress, where blocks are usually silent. No outside leg confirmed it."
	}
	return finding.Finding{
		Code:        "EGR006",
		Severity:    finding.Warning,
		Title:       fmt.Sprintf("%s is down or refusing from everywhere: not a cluster problem", run.Target),
		Subjects:    []finding.Subject{target(run)},
		Evidence:    ev,
		Explanation: expl,
		Remediation: []string{
			"Check the remote service with its owner: is it listening on that port, is the host up, does DNS point at the right address",
			fmt.Sprintf("netdoctor probe %s --path --outside-netns NAME   # or --from-here: where on the path packets are lost", run.Target),
		},
	}, true
}

// httpFailure is EGR007: a leg whose network path works (TCP connects, no
// network-level failure) and whose HTTP probe fails with a status or TLS.
func httpFailure(run probe.Run) (finding.Finding, bool) {
	var ev []string
	var meanings []string
	seenMeaning := map[string]bool{}
	var okLegs []string
	gateway := false
	for _, l := range run.Legs {
		st := l.State()
		if st.Verdict != probe.VerdictOK {
			continue
		}
		if !st.HTTPLevel {
			for _, s := range l.Series {
				if s.Spec.Kind == probe.KindHTTP && s.Verdict == probe.VerdictOK {
					okLegs = append(okLegs, l.Label())
				}
			}
			continue
		}
		for _, s := range l.Series {
			if s.Spec.Kind != probe.KindHTTP || !s.Failed() || (s.Dominant != probe.HTTPStatus && s.Dominant != probe.TLSError) {
				continue
			}
			line := fmt.Sprintf("%s: GET %s: %s", l.Label(), s.Spec.Target, s.Summary())
			for _, o := range s.Observations {
				if o.Outcome != s.Dominant {
					continue
				}
				if o.HTTP != nil && o.HTTP.Status != 0 {
					if o.HTTP.Phases.ConnectMillis > 0 {
						line += fmt.Sprintf("; connected in %.1fms", o.HTTP.Phases.ConnectMillis)
					}
					if o.HTTP.Server != "" {
						line += "; Server: " + o.HTTP.Server
					}
					if len(o.HTTP.ProxyHints) > 0 {
						line += "; proxy/firewall signs: " + strings.Join(o.HTTP.ProxyHints, ", ")
					}
					if o.HTTP.FromGateway {
						gateway = true
					}
					if m := o.HTTP.Meaning; m != "" && !seenMeaning[m] {
						seenMeaning[m] = true
						meanings = append(meanings, m)
					}
				} else if o.Detail != "" {
					line += "; " + o.Detail
					m := "TLS failed after TCP connected: " + o.Detail
					if !seenMeaning[m] {
						seenMeaning[m] = true
						meanings = append(meanings, m)
					}
				}
				break
			}
			ev = append(ev, line)
		}
	}
	if len(ev) == 0 {
		return finding.Finding{}, false
	}
	if len(okLegs) > 0 {
		ev = append(ev, "the same request works from "+strings.Join(okLegs, ", "))
	}
	expl := "TCP connects to the target, so the network path works; the request fails at the HTTP level. " + strings.Join(meanings, ". ") + "."
	if len(okLegs) > 0 {
		expl += " The request works from elsewhere, so a device on the failing side's path (its egress proxy or firewall) answers instead of the server."
	}
	rem := []string{
		"curl -vvv " + firstHTTPTarget(run) + "   # from a pod, to read the full response and its headers",
	}
	if gateway || len(okLegs) > 0 {
		rem = append(rem, "The answer comes from a gateway, proxy or firewall: check the egress device's (Azure Firewall/NVA/proxy) logs and application rules for this destination, and allow it")
	} else {
		rem = append(rem, "The server itself answers: fix the request (URL, credentials, headers) or contact the server's owner")
	}
	title := fmt.Sprintf("%s: the path works, the request fails at the HTTP level", run.Target)
	if gateway {
		title = fmt.Sprintf("%s: the path works, a gateway/proxy/firewall answers with an error", run.Target)
	}
	return finding.Finding{
		Code:        "EGR007",
		Severity:    finding.Warning,
		Title:       title,
		Subjects:    []finding.Subject{target(run)},
		Evidence:    ev,
		Explanation: expl,
		Remediation: rem,
	}, true
}

func firstHTTPTarget(run probe.Run) string {
	for _, l := range run.Legs {
		for _, s := range l.Series {
			if s.Spec.Kind == probe.KindHTTP {
				return s.Spec.Target
			}
		}
	}
	return run.Target
}

// ephemeralPorts is EGR004: for each leg where TCP fails while UDP to the
// same target works, the node's port ranges against the firewall's. It also
// returns why a TCP-only failure did not become a finding.
func ephemeralPorts(s *snapshot.Snapshot, run probe.Run, fw portRange) ([]finding.Finding, []string) {
	type hit struct {
		leg  probe.Leg
		cmp  probe.Comparison
		tcp  probe.Series
		node string
	}
	byNode := map[string][]hit{}
	var nodes []string
	for _, l := range run.Legs {
		for _, c := range l.Comparisons {
			if !c.TCPOnly {
				continue
			}
			var tcp probe.Series
			for _, x := range l.Series {
				if x.Spec.Kind == probe.KindTCP && x.Spec.Target == c.Target {
					tcp = x
				}
			}
			node := l.Node
			if _, seen := byNode[node]; !seen {
				nodes = append(nodes, node)
			}
			byNode[node] = append(byNode[node], hit{l, c, tcp, node})
		}
	}
	sort.Strings(nodes)
	var out []finding.Finding
	var why []string
	for _, node := range nodes {
		hits := byNode[node]
		var ev []string
		intermittent, confirmed, rewritten := false, false, false
		for _, h := range hits {
			ev = append(ev, fmt.Sprintf("%s: TCP %s %s while UDP to the same target works every time", h.leg.Label(), h.cmp.Target, h.tcp.Summary()))
			if h.cmp.TCP == probe.VerdictIntermittent {
				intermittent = true
			}
			if lo, hi, n := successPorts(h.tcp); n > 0 {
				ev = append(ev, fmt.Sprintf("%s: the %d connection(s) that worked used local ports %d-%d", h.leg.Label(), n, lo, hi))
			}
			pc := correlate(h.tcp, fw)
			if pc.failed == 0 {
				continue
			}
			ev = append(ev, fmt.Sprintf("%s: %d of the %d failed connects used a local port outside %s; %d of the %d that worked did", h.leg.Label(), pc.failedOutside, pc.failed, fw, pc.okOutside, pc.ok))
			switch {
			case pc.failedOutside == pc.failed && pc.okOutside == 0:
				confirmed = true
			case pc.okOutside > 0:
				rewritten = true
			}
		}
		var outside []string
		var ranges []string
		if node != "" {
			if pr, src, err := nodePortRange(s, node); err != nil {
				ev = append(ev, err.Error())
			} else if src != "" {
				ranges = append(ranges, fmt.Sprintf("%s %s", src, pr))
				for _, o := range pr.outside(fw) {
					outside = append(outside, fmt.Sprintf("%s (%d ports, from %s)", o, o.size(), src))
				}
			}
			for _, sn := range snatRanges(s, node) {
				ranges = append(ranges, sn.src+" "+sn.r.String())
				for _, o := range sn.r.outside(fw) {
					outside = append(outside, fmt.Sprintf("%s (%d ports, from %s)", o, o.size(), sn.src))
				}
			}
		}
		if rewritten && len(outside) > 0 {
			ev = append(ev, "connects from ports outside the range also worked: a SNAT on the way rewrites the ports the firewall sees; its port range matters as much as the node's")
		}
		subj := []finding.Subject{target(run)}
		if node != "" {
			subj = append([]finding.Subject{{Kind: "Node", Name: node}}, subj...)
		}
		sev := finding.Critical
		nodeName := node
		if nodeName == "" {
			nodeName = "this place"
		}
		how := map[bool]string{true: "intermittent", false: "failing"}[intermittent]
		var expl string
		switch {
		case len(outside) > 0:
			ev = append(ev, fmt.Sprintf("node %s hands out local ports %s; the firewall lets TCP replies back in only to %s", nodeName, strings.Join(ranges, ", "), fw))
			ev = append(ev, "ports outside the firewall's range: "+strings.Join(outside, "; "))
			expl = fmt.Sprintf("TCP needs its replies (SYN-ACK, ACKs) let back in to the local port each connection used. Node %s can use ports %s, which the firewall does not let replies back in to: connections that draw one of those ports time out, the others work, hence TCP %s while UDP works.", nodeName, strings.Join(outside, "; "), how)
		case confirmed:
			expl = fmt.Sprintf("TCP needs its replies (SYN-ACK, ACKs) let back in to the local port each connection used. Every failed connect from %s used a local port outside %s and none of those that worked did: replies to those ports are dropped on the way back, hence TCP %s while UDP works.", nodeName, fw, how)
		case len(ranges) > 0:
			why = append(why, fmt.Sprintf("node %s: TCP fails while UDP works, but its port ranges (%s) are inside the firewall's %s", nodeName, strings.Join(ranges, ", "), fw))
			continue
		case rewritten:
			sev = finding.Warning
			expl = "TCP fails while UDP to the same target works every time, and connects from ports outside " + fw.String() + " worked as well as failed: the ports the firewall sees are not the node's own. A SNAT on the way (the load balancer's outbound rule, a NAT gateway, or the firewall's own NAT) picks them: compare that SNAT's port range with what the firewall lets back in."
		default:
			sev = finding.Warning
			ev = append(ev, fmt.Sprintf("node %s's port ranges were not collected (no %s): run 'netdoctor diagnose --node-data' to confirm", nodeName, nodedata.FileSysctls))
			expl = "TCP fails while UDP to the same target works every time: something in the path lets TCP's returning packets in only some of the time. The usual cause is a firewall that allows replies only to the ephemeral range " + fw.String() + " while the node uses ports outside it; the node's port range was not collected to confirm."
		}
		out = append(out, finding.Finding{
			Code:        "EGR004",
			Severity:    sev,
			Title:       fmt.Sprintf("TCP to %s fails while UDP works from %s: ephemeral ports outside what the firewall lets back in", run.Target, nodeName),
			Subjects:    subj,
			Evidence:    ev,
			Explanation: expl,
			Remediation: []string{
				fmt.Sprintf("Limit the ports the nodes use to the firewall's range: sysctl -w net.ipv4.ip_local_port_range=\"%d %d\" on every node (persist it with a node-level DaemonSet, or the node pool's linuxOSConfig sysctls on AKS), and keep any SNAT --to-ports range inside it", fw.lo, min(fw.hi, 60999)),
				widen(ranges),
				fmt.Sprintf("netdoctor probe %s --udp --count 50 --node %s   # confirm: TCP failures should stop", run.Target, nodeName),
			},
		})
	}
	return out, why
}

// widen is seed 004's second fix.
func widen(ranges []string) string {
	s := "Or widen the firewall to let returning TCP (ACK) traffic in on every port the nodes can use"
	if len(ranges) > 0 {
		s += " (" + strings.Join(ranges, ", ") + ")"
	}
	return s
}

// portStats counts failed and successful connects, and those among them
// whose local port fell outside the firewall's range.
type portStats struct{ failed, failedOutside, ok, okOutside int }

// correlate reads the local port of every TCP attempt that recorded one.
func correlate(s probe.Series, fw portRange) portStats {
	var ps portStats
	for _, o := range s.Observations {
		i := strings.LastIndex(o.Local, ":")
		if i < 0 {
			continue
		}
		port, err := strconv.Atoi(o.Local[i+1:])
		if err != nil {
			continue
		}
		out := port < fw.lo || port > fw.hi
		if o.Outcome == probe.OK {
			ps.ok++
			if out {
				ps.okOutside++
			}
			continue
		}
		ps.failed++
		if out {
			ps.failedOutside++
		}
	}
	return ps
}

// successPorts returns the range and count of local ports used by the
// attempts that worked.
func successPorts(s probe.Series) (lo, hi, n int) {
	for _, o := range s.Observations {
		if o.Outcome != probe.OK || o.Local == "" {
			continue
		}
		i := strings.LastIndex(o.Local, ":")
		p, err := strconv.Atoi(o.Local[i+1:])
		if err != nil {
			continue
		}
		if n == 0 || p < lo {
			lo = p
		}
		if p > hi {
			hi = p
		}
		n++
	}
	return lo, hi, n
}

// nodePortRange reads net.ipv4.ip_local_port_range from the node's sysctls.
func nodePortRange(s *snapshot.Snapshot, node string) (portRange, string, error) {
	data, ok := s.NodeFile(node, nodedata.FileSysctls)
	if !ok {
		return portRange{}, "", nil
	}
	path := snapshot.NodeFilePath(node, nodedata.FileSysctls)
	sc, err := nodedata.ParseSysctls(path, data)
	if err != nil {
		return portRange{}, "", err
	}
	lo, hi, ok, err := sc.PortRange()
	if err != nil {
		return portRange{}, "", fmt.Errorf("%s: %w", path, err)
	}
	if !ok {
		return portRange{}, "", nil
	}
	return portRange{lo, hi}, "net.ipv4.ip_local_port_range", nil
}

type snatRange struct {
	src string
	r   portRange
}

// snatRanges reads the port ranges of SNAT (--to-source IP:LO-HI) and
// MASQUERADE (--to-ports LO-HI) rules in the node's nat table.
func snatRanges(s *snapshot.Snapshot, node string) []snatRange {
	data, ok := s.NodeFile(node, nodedata.FileIptablesSave)
	if !ok {
		return nil
	}
	d, err := iptables.Parse(snapshot.NodeFilePath(node, nodedata.FileIptablesSave), data)
	if err != nil {
		return nil
	}
	t := d.Table("nat")
	if t == nil {
		return nil
	}
	var out []snatRange
	for _, c := range t.Chains {
		for _, rule := range c.Rules {
			var arg string
			switch rule.Target.Name {
			case "SNAT":
				o, ok := rule.Target.Opt("--to-source")
				if !ok {
					continue
				}
				_, ports, found := strings.Cut(o.Arg(), ":")
				if !found {
					continue
				}
				arg = ports
			case "MASQUERADE":
				o, ok := rule.Target.Opt("--to-ports")
				if !ok {
					continue
				}
				arg = o.Arg()
			default:
				continue
			}
			if !strings.Contains(arg, "-") {
				arg += "-" + arg
			}
			r, err := parseRange(arg)
			if err != nil {
				continue
			}
			out = append(out, snatRange{src: fmt.Sprintf("%s rule (%s line %d)", rule.Target.Name, nodedata.FileIptablesSave, rule.Line), r: r})
		}
	}
	return out
}
