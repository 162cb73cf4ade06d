package kubeproxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/trace"
)

// Check names.
const (
	CheckMode         = "kube-proxy/mode"
	CheckNoEndpoints  = "kube-proxy/no-endpoints"
	CheckLocalPolicy  = "kube-proxy/external-traffic-policy-local"
	CheckSync         = "kube-proxy/rules-match-endpointslices"
	CheckSourceRanges = "kube-proxy/load-balancer-source-ranges"
)

var allChecks = []string{CheckNoEndpoints, CheckLocalPolicy, CheckSync, CheckSourceRanges}

// maxEvidence bounds the per-node lines quoted in one finding.
const maxEvidence = 6

// Analyzer is the kube-proxy analyzer. Clients are extra client addresses
// checked against loadBalancerSourceRanges (KPX004), beyond the in-cluster
// pods it always checks.
type Analyzer struct {
	Clients []netip.Addr
}

// Analyze runs the kube-proxy checks with no extra clients.
func Analyze(s *snapshot.Snapshot) finding.Result { return Analyzer{}.Analyze(s) }

// Name implements analyze.Analyzer.
func (Analyzer) Name() string { return "kube-proxy" }

// Analyze implements analyze.Analyzer.
func (a Analyzer) Analyze(s *snapshot.Snapshot) finding.Result {
	var res finding.Result
	nodes, skipped := LoadNodes(s)
	var skipReasons []string
	for _, sk := range skipped {
		skipReasons = append(skipReasons, "node "+sk.Name+": "+sk.Reason)
	}
	if len(nodes) == 0 {
		reason := "no node iptables-save: " + s.NoNodeDataReason()
		if len(skipped) > 0 {
			reason = "no node can be traced: " + strings.Join(skipReasons, "; ")
		}
		status := finding.Skipped
		for _, sk := range skipped {
			if sk.Err {
				status = finding.Error
			}
		}
		res.Check(CheckMode, status, reason)
		for _, c := range allChecks {
			res.Check(c, finding.Skipped, reason)
		}
		return res
	}
	modeReason := fmt.Sprintf("iptables mode on %d node(s)", len(nodes))
	if len(skipped) > 0 {
		modeReason += "; not traced: " + strings.Join(skipReasons, "; ")
	}
	res.Check(CheckMode, finding.Passed, modeReason)

	an := &run{s: s, nodes: nodes, res: &res, clients: a.Clients}
	an.services()
	an.staleServices()
	an.syncMetrics()
	an.report()
	return res
}

type run struct {
	s       *snapshot.Snapshot
	nodes   []*Node
	res     *finding.Result
	clients []netip.Addr

	portsChecked  int
	rejects       int
	localChecked  int
	localDrops    int
	syncCompared  int
	syncBad       int
	syncSkipped   int
	rangesChecked int
	rangesBad     int
	metricsRead   int
	ipv6Only      int // Services whose ClusterIP is IPv6: not traced
}

func subject(svc *corev1.Service) finding.Subject {
	return finding.Subject{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}
}

func (r *run) services() {
	for i := range r.s.Services {
		svc := &r.s.Services[i]
		if !Traced(svc) || svc.DeletionTimestamp != nil {
			if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && ip.Is6() && svc.DeletionTimestamp == nil {
				r.ipv6Only++
			}
			continue
		}
		for j := range svc.Spec.Ports {
			port := &svc.Spec.Ports[j]
			eps := Endpoints(r.s, svc, port)
			r.portsChecked++
			r.noEndpoints(svc, port, eps)
			r.localPolicy(svc, port, eps)
			r.sourceRanges(svc, port)
		}
	}
}

// KPX001 and KPX003 (endpoints) from the ClusterIP trace on each node.
func (r *run) noEndpoints(svc *corev1.Service, port *corev1.ServicePort, eps []Endpoint) {
	used := UsedEndpoints(eps)
	hinted := false
	for _, e := range used {
		if len(e.Zones) > 0 {
			hinted = true
		}
	}
	var rejectEvidence []string
	var syncEvidence []string
	for _, n := range r.nodes {
		src := netip.MustParseAddr("127.0.0.1")
		if len(n.IPs) > 0 {
			src = n.IPs[0]
		}
		p, tr, err := TraceService(n, svc, port, ViaClusterIP, src, true)
		if err != nil {
			continue
		}
		if tr.Verdict == trace.Reject {
			rule := "a REJECT rule"
			if tr.Decision != nil {
				rule = ruleRef(n, tr.Decision)
			}
			rejectEvidence = append(rejectEvidence, fmt.Sprintf("node %s: %s is REJECTed by %s", n.Name, p, rule))
		}
		// KPX003: compare with the EndpointSlices.
		expected := used
		if svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal {
			expected = nil
			for _, e := range used {
				if e.Node == n.Name {
					expected = append(expected, e)
				}
			}
			if len(expected) == 0 {
				continue // kube-proxy drops: nothing to compare
			}
		}
		if hinted {
			r.syncSkipped++
			continue
		}
		r.syncCompared++
		got := map[string]bool{}
		if tr.Verdict == trace.DNAT {
			for _, d := range tr.Destinations {
				got[netip.AddrPortFrom(netip.MustParseAddr(d.IP), uint16(d.Port)).String()] = true
			}
		}
		want := map[string]bool{}
		for _, e := range expected {
			want[e.Key()] = true
		}
		var missing, stale []string
		for k := range want {
			if !got[k] {
				missing = append(missing, k)
			}
		}
		for k := range got {
			if !want[k] {
				stale = append(stale, k)
			}
		}
		sort.Strings(missing)
		sort.Strings(stale)
		switch {
		case tr.Verdict == trace.None && len(want) > 0:
			syncEvidence = append(syncEvidence, fmt.Sprintf("node %s: no rule for %s at all (the Service has %d ready endpoint(s))", n.Name, p, len(want)))
		case tr.Verdict == trace.Reject && len(want) > 0:
			syncEvidence = append(syncEvidence, fmt.Sprintf("node %s: %s is REJECTed as having no endpoints, but the EndpointSlices list %s", n.Name, p, strings.Join(keys(want), ", ")))
		case len(missing) > 0 || len(stale) > 0:
			var parts []string
			if len(missing) > 0 {
				parts = append(parts, "missing from the rules: "+strings.Join(missing, ", "))
			}
			if len(stale) > 0 {
				parts = append(parts, "in the rules but not ready in the EndpointSlices: "+strings.Join(stale, ", "))
			}
			syncEvidence = append(syncEvidence, fmt.Sprintf("node %s: %s: %s", n.Name, p, strings.Join(parts, "; ")))
		}
	}
	if len(rejectEvidence) > 0 {
		r.rejects++
		why := "it has no endpoints at all"
		switch {
		case len(eps) > 0 && len(used) == 0:
			why = fmt.Sprintf("its %d endpoint(s) are all not ready", len(eps))
		case len(used) > 0:
			why = fmt.Sprintf("the EndpointSlices list %d ready endpoint(s) now, so the rules may be stale (see KPX003)", len(used))
		}
		r.res.Add(finding.Finding{
			Code:     "KPX001",
			Severity: finding.Critical,
			Title:    fmt.Sprintf("Service %s/%s port %s has no ready endpoints: kube-proxy rejects connections", svc.Namespace, svc.Name, portName(port)),
			Subjects: []finding.Subject{subject(svc)},
			Evidence: limit(rejectEvidence),
			Explanation: fmt.Sprintf("kube-proxy wrote a REJECT rule for %s/%s:%s because %s; clients of its ClusterIP %s:%d (and any NodePort, external or load balancer IP) get \"connection refused\" from their own node.",
				svc.Namespace, svc.Name, portName(port), why, svc.Spec.ClusterIP, port.Port),
			Remediation: remediation001(svc, port),
		})
	}
	if len(syncEvidence) > 0 {
		r.syncBad++
		r.res.Add(finding.Finding{
			Code:     "KPX003",
			Severity: finding.Warning,
			Title:    fmt.Sprintf("kube-proxy's rules for %s/%s port %s disagree with its EndpointSlices", svc.Namespace, svc.Name, portName(port)),
			Subjects: []finding.Subject{subject(svc)},
			Evidence: limit(syncEvidence),
			Explanation: "The DNAT destinations in the node's iptables rules are not the ready endpoints the API lists: kube-proxy on that node has not synced. " +
				"The rules and the API objects are read seconds apart; if the Service's pods changed during collection, collect again before acting.",
			Remediation: []string{
				"kubectl -n kube-system logs -l k8s-app=kube-proxy --tail=200 | grep -i -e error -e restore",
				"kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide",
			},
		})
	}
}

// KPX002: externalTrafficPolicy Local and nodes without a local endpoint.
func (r *run) localPolicy(svc *corev1.Service, port *corev1.ServicePort, eps []Endpoint) {
	if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || port.NodePort == 0 {
		return
	}
	used := UsedEndpoints(eps)
	if len(used) == 0 {
		return // KPX001 covers it
	}
	withEndpoints := map[string]bool{}
	for _, e := range used {
		if e.Node != "" {
			withEndpoints[e.Node] = true
		}
	}
	r.localChecked++
	var drops []string
	var dropNodes []string
	for _, n := range r.nodes {
		vias := []Via{ViaNodePort}
		if len(svc.Status.LoadBalancer.Ingress) > 0 {
			vias = append(vias, ViaLoadBalancer)
		}
		for _, via := range vias {
			p, tr, err := TraceService(n, svc, port, via, ExternalClient, false)
			if err != nil || tr.Verdict != trace.Drop {
				continue
			}
			rule := ""
			if tr.Decision != nil {
				rule = " by " + ruleRef(n, tr.Decision)
			}
			drops = append(drops, fmt.Sprintf("node %s: %s from an external client is DROPped%s", n.Name, p, rule))
			if len(dropNodes) == 0 || dropNodes[len(dropNodes)-1] != n.Name {
				dropNodes = append(dropNodes, n.Name)
			}
		}
	}
	if len(drops) == 0 {
		return
	}
	r.localDrops++
	var have []string
	for n := range withEndpoints {
		have = append(have, n)
	}
	sort.Strings(have)
	evidence := limit(drops)
	evidence = append(evidence, fmt.Sprintf("nodes with a ready endpoint: %s", orNone(have)))
	sev := finding.Info
	var probe []string
	for k, v := range svc.Annotations {
		if strings.Contains(k, "health-probe") || strings.Contains(k, "health_probe") {
			probe = append(probe, k+"="+v)
		}
	}
	sort.Strings(probe)
	expl := fmt.Sprintf("With externalTrafficPolicy: Local, nodes without a local endpoint of %s/%s drop the traffic arriving at its NodePort %d", svc.Namespace, svc.Name, port.NodePort)
	if len(svc.Status.LoadBalancer.Ingress) > 0 {
		expl += " and its load balancer IP"
	}
	expl += ". "
	var remediation []string
	if svc.Spec.HealthCheckNodePort != 0 {
		evidence = append(evidence, fmt.Sprintf("healthCheckNodePort %d: nodes without a local endpoint answer 503 there, so a load balancer probing it sends them nothing", svc.Spec.HealthCheckNodePort))
		expl += "That is by design as long as the load balancer's health probe uses the healthCheckNodePort; clients that connect to a node's NodePort directly still time out on the nodes listed."
		remediation = append(remediation, fmt.Sprintf("curl -s http://NODE_IP:%d/healthz   # 503 and localEndpoints 0 on a node without an endpoint", svc.Spec.HealthCheckNodePort))
	} else {
		sev = finding.Warning
		expl += "The Service has no load balancer health check to steer clients, so clients that connect to the NodePort of any node listed time out."
	}
	if len(probe) > 0 {
		sev = finding.Warning
		evidence = append(evidence, "health probe annotations: "+strings.Join(probe, ", "))
		expl += " The Service overrides the load balancer's health probe, so the load balancer may keep sending traffic to the nodes that drop it: intermittent timeouts."
	}
	remediation = append(remediation,
		fmt.Sprintf("kubectl get endpointslices -n %s -l kubernetes.io/service-name=%s -o wide   # the nodes with endpoints", svc.Namespace, svc.Name),
		fmt.Sprintf("kubectl patch service %s -n %s -p '{\"spec\":{\"externalTrafficPolicy\":\"Cluster\"}}'   # if the client source IP is not needed", svc.Name, svc.Namespace))
	r.res.Add(finding.Finding{
		Code:        "KPX002",
		Severity:    sev,
		Title:       fmt.Sprintf("%s/%s (externalTrafficPolicy Local): %d node(s) without a local endpoint drop its external traffic", svc.Namespace, svc.Name, len(dropNodes)),
		Subjects:    []finding.Subject{subject(svc)},
		Evidence:    evidence,
		Explanation: expl,
		Remediation: remediation,
	})
}

// KPX004: loadBalancerSourceRanges and the clients that get dropped.
func (r *run) sourceRanges(svc *corev1.Service, port *corev1.ServicePort) {
	if len(svc.Spec.LoadBalancerSourceRanges) == 0 || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return
	}
	r.rangesChecked++
	type client struct {
		ip   netip.Addr
		what string
	}
	var clients []client
	for _, c := range r.clients {
		clients = append(clients, client{c, "client " + c.String()})
	}
	// An in-cluster pod on another node than the Service's endpoints:
	// one running pod IP that is not host network.
	for i := range r.s.Pods {
		p := &r.s.Pods[i]
		if p.Spec.HostNetwork || p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning {
			continue
		}
		if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil && ip.Is4() {
			clients = append(clients, client{ip, fmt.Sprintf("pod %s/%s (%s)", p.Namespace, p.Name, ip)})
			break
		}
	}
	var evidence []string
	for _, c := range clients {
		for _, n := range r.nodes {
			p, tr, err := TraceService(n, svc, port, ViaLoadBalancer, c.ip, false)
			if err != nil || Classify(tr) != "KPX004" || tr.Decision == nil {
				continue
			}
			evidence = append(evidence, fmt.Sprintf("node %s: %s from %s is DROPped by %s", n.Name, p, c.what, ruleRef(n, tr.Decision)))
			break
		}
	}
	if len(evidence) == 0 {
		return
	}
	r.rangesBad++
	evidence = append(evidence, "loadBalancerSourceRanges: "+strings.Join(svc.Spec.LoadBalancerSourceRanges, ", "))
	r.res.Add(finding.Finding{
		Code:     "KPX004",
		Severity: finding.Warning,
		Title:    fmt.Sprintf("loadBalancerSourceRanges of %s/%s drop clients calling its load balancer IP", svc.Namespace, svc.Name),
		Subjects: []finding.Subject{subject(svc)},
		Evidence: evidence,
		Explanation: "kube-proxy only lets sources in spec.loadBalancerSourceRanges reach the load balancer IP; everything else is dropped (filter KUBE-PROXY-FIREWALL; before kube-proxy 1.25, marked by KUBE-MARK-DROP and dropped in KUBE-FIREWALL). " +
			"In-cluster clients calling the load balancer IP are short-circuited on their own node and dropped too unless the pod or node CIDR is in the ranges.",
		Remediation: []string{
			fmt.Sprintf("kubectl get service %s -n %s -o jsonpath='{.spec.loadBalancerSourceRanges}'", svc.Name, svc.Namespace),
			"add the client's CIDR (or the cluster's pod and node CIDRs) to spec.loadBalancerSourceRanges, or call the Service by its DNS name from inside the cluster",
		},
	})
}

// staleServices reports rules for Services that no longer exist (KPX003).
func (r *run) staleServices() {
	covered := func(ns string) bool {
		if len(r.s.Manifest.Namespaces) == 0 {
			return true
		}
		for _, n := range r.s.Manifest.Namespaces {
			if n == ns {
				return true
			}
		}
		return false
	}
	if _, skipped := r.s.Skipped("services"); skipped {
		return
	}
	stale := map[string][]string{}
	for _, n := range r.nodes {
		seen := map[string]bool{}
		for _, rule := range n.Dump.Chain("nat", "KUBE-SERVICES").Rules {
			c := rule.Comment()
			nsName, rest, ok := strings.Cut(c, ":")
			if !ok || !strings.HasSuffix(rest, "cluster IP") || seen[nsName] {
				continue
			}
			seen[nsName] = true
			ns, name, ok := strings.Cut(nsName, "/")
			if !ok || !covered(ns) || r.s.Index().Service(ns, name) != nil {
				continue
			}
			stale[nsName] = append(stale[nsName], fmt.Sprintf("node %s: %s line %d: %s", n.Name, n.File, rule.Line, rule.Text))
		}
	}
	names := keys(boolSet(stale))
	for _, nsName := range names {
		ns, name, _ := strings.Cut(nsName, "/")
		r.syncBad++
		r.res.Add(finding.Finding{
			Code:        "KPX003",
			Severity:    finding.Warning,
			Title:       fmt.Sprintf("kube-proxy still has rules for Service %s, which no longer exists", nsName),
			Subjects:    []finding.Subject{{Kind: "Service", Namespace: ns, Name: name}},
			Evidence:    limit(stale[nsName]),
			Explanation: "The node's rules still route a Service the API no longer has: kube-proxy there has stopped syncing.",
			Remediation: []string{
				"kubectl -n kube-system logs -l k8s-app=kube-proxy --tail=200 | grep -i -e error -e restore",
			},
		})
	}
}

// syncMetrics reports KPX003 for nodes whose kube-proxy metrics say it is
// not syncing or its iptables-restore fails.
func (r *run) syncMetrics() {
	for _, n := range r.nodes {
		b, ok := r.s.NodeFile(n.Name, FileKubeProxyMetrics)
		if !ok {
			continue
		}
		m, ok := readSyncMetrics(b)
		if !ok {
			continue
		}
		r.metricsRead++
		probs := m.problems(r.s.Now())
		if len(probs) == 0 {
			continue
		}
		r.syncBad++
		ev := make([]string, 0, len(probs)+1)
		for _, p := range probs {
			ev = append(ev, fmt.Sprintf("node %s: %s", n.Name, p))
		}
		ev = append(ev, "from "+snapshotPath(n.Name, FileKubeProxyMetrics))
		r.res.Add(finding.Finding{
			Code:        "KPX003",
			Severity:    finding.Warning,
			Title:       fmt.Sprintf("kube-proxy on node %s is not keeping its rules in sync", n.Name),
			Subjects:    []finding.Subject{{Kind: "Node", Name: n.Name}},
			Evidence:    ev,
			Explanation: "kube-proxy's own metrics show that it has not applied the latest Service and endpoint changes to this node's iptables rules, so its rules can send traffic to endpoints that are gone and miss new ones.",
			Remediation: []string{
				fmt.Sprintf("kubectl -n kube-system logs -l k8s-app=kube-proxy --field-selector spec.nodeName=%s --tail=200 | grep -i -e error -e restore", n.Name),
				fmt.Sprintf("kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=%s   # restart it", n.Name),
			},
		})
	}
}

func snapshotPath(node, name string) string { return snapshot.NodeFilePath(node, name) }

func (r *run) report() {
	status := func(bad int) finding.Status {
		if bad > 0 {
			return finding.Failed
		}
		return finding.Passed
	}
	nodes := len(r.nodes)
	ipv6 := ""
	if r.ipv6Only > 0 {
		ipv6 = fmt.Sprintf("; %d Service(s) with an IPv6 ClusterIP not traced (only IPv4 iptables rules are read)", r.ipv6Only)
	}
	if r.portsChecked == 0 {
		for _, c := range allChecks {
			r.res.Check(c, finding.Skipped, "no Service with an IPv4 ClusterIP in the snapshot"+ipv6)
		}
		return
	}
	r.res.Check(CheckNoEndpoints, status(r.rejects), fmt.Sprintf("%d Service port(s) traced on %d node(s); %d rejected%s", r.portsChecked, nodes, r.rejects, ipv6))
	if r.localChecked == 0 {
		r.res.Check(CheckLocalPolicy, finding.Skipped, "no Service with externalTrafficPolicy Local, a NodePort and endpoints")
	} else {
		r.res.Check(CheckLocalPolicy, status(r.localDrops), fmt.Sprintf("%d Service port(s) with externalTrafficPolicy Local; %d dropped on some node", r.localChecked, r.localDrops))
	}
	reason := fmt.Sprintf("%d (Service port, node) pair(s) compared; %d finding(s)", r.syncCompared, r.syncBad)
	if r.syncSkipped > 0 {
		reason += fmt.Sprintf("; %d not compared (topology hints)", r.syncSkipped)
	}
	if r.metricsRead == 0 {
		reason += "; kube-proxy sync metrics not collected (nodes/<node>/" + FileKubeProxyMetrics + ")"
	} else {
		reason += fmt.Sprintf("; kube-proxy sync metrics read on %d node(s)", r.metricsRead)
	}
	r.res.Check(CheckSync, status(r.syncBad), reason)
	if r.rangesChecked == 0 {
		r.res.Check(CheckSourceRanges, finding.Skipped, "no LoadBalancer Service with loadBalancerSourceRanges and an IP")
	} else {
		r.res.Check(CheckSourceRanges, status(r.rangesBad), fmt.Sprintf("%d Service port(s) with loadBalancerSourceRanges; %d drop a checked client", r.rangesChecked, r.rangesBad))
	}
}

func remediation001(svc *corev1.Service, port *corev1.ServicePort) []string {
	out := []string{fmt.Sprintf("kubectl get endpointslices -n %s -l kubernetes.io/service-name=%s -o wide", svc.Namespace, svc.Name)}
	if len(svc.Spec.Selector) > 0 {
		out = append(out, fmt.Sprintf("kubectl get pods -n %s -l %s -o wide", svc.Namespace, snapshot.SelectorString(svc.Spec.Selector)))
	}
	return append(out, fmt.Sprintf("netdoctor trace service %s -n %s --port %s", svc.Name, svc.Namespace, portName(port)))
}

// ruleRef names a rule and where it is: "filter KUBE-SERVICES rule 1
// (nodes/N/iptables-save.txt line 18): -A ...".
func ruleRef(n *Node, s *trace.Step) string {
	return fmt.Sprintf("%s %s rule %d (%s line %d): %s", s.Table, s.Chain, s.Rule, n.File, s.Line, s.Text)
}

func limit(ev []string) []string {
	if len(ev) <= maxEvidence {
		return ev
	}
	out := append([]string(nil), ev[:maxEvidence]...)
	return append(out, fmt.Sprintf("... and %d more", len(ev)-maxEvidence))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func boolSet(m map[string][]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
