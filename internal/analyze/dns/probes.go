package dns

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Thresholds of the probe rules.
const (
	// intermittentMin is the failure rate from which a hop is intermittent.
	intermittentMin = 0.01
	// brokenMin is the failure rate from which a path is broken, not
	// intermittent.
	brokenMin = 0.5
	// workingMin is the success rate from which a path works.
	workingMin = 0.9
	// slowP99MS is the p99 latency from which a hop is slow.
	slowP99MS = 1000
)

// stat sums a hop's series for the rules: reach counts answers that carry
// a DNS verdict (NOERROR, NXDOMAIN, truncated); bad the rest.
type stat struct {
	sent, reach, bad, timeouts, errors, servfail, refused, truncated, pairLoss int
	p99, max                                                                   float64
	firstError                                                                 string
}

func (st stat) rate() float64 {
	if st.sent == 0 {
		return 0
	}
	return float64(st.bad) / float64(st.sent)
}

func (st stat) String() string {
	s := fmt.Sprintf("%d/%d answered", st.reach, st.sent)
	var parts []string
	if st.timeouts > 0 {
		parts = append(parts, fmt.Sprintf("%d timeouts", st.timeouts))
	}
	if st.errors > 0 {
		parts = append(parts, fmt.Sprintf("%d errors", st.errors))
	}
	if st.servfail > 0 {
		parts = append(parts, fmt.Sprintf("%d SERVFAIL", st.servfail))
	}
	if st.refused > 0 {
		parts = append(parts, fmt.Sprintf("%d REFUSED", st.refused))
	}
	if st.pairLoss > 0 {
		parts = append(parts, fmt.Sprintf("%d A/AAAA pair losses", st.pairLoss))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if st.reach > 0 {
		s += fmt.Sprintf(", p99 %.1fms, max %.1fms", st.p99, st.max)
	}
	if st.firstError != "" && st.errors > 0 {
		s += "; first error: " + st.firstError
	}
	return s
}

// statOf sums the series of h that match kind ("" any) and transport ("" any).
func statOf(h dnsprobe.HopResult, kind, transport string) stat {
	return statExcept(h, kind, transport, nil)
}

// statExcept is statOf without the series of the names in skip.
func statExcept(h dnsprobe.HopResult, kind, transport string, skip map[string]bool) stat {
	var st stat
	for _, s := range h.Series {
		if (kind != "" && s.Kind != kind) || (transport != "" && s.Transport != transport) || skip[s.QName] {
			continue
		}
		st.sent += s.Sent
		st.servfail += s.Rcodes["SERVFAIL"]
		st.refused += s.Rcodes["REFUSED"]
		st.reach += s.Responses - s.Rcodes["SERVFAIL"] - s.Rcodes["REFUSED"]
		st.timeouts += s.Timeouts
		st.errors += s.Errors
		st.truncated += s.Truncated
		st.pairLoss += s.PairLoss
		if s.Latency.P99MS > st.p99 {
			st.p99 = s.Latency.P99MS
		}
		if s.Latency.MaxMS > st.max {
			st.max = s.Latency.MaxMS
		}
		if st.firstError == "" {
			st.firstError = s.FirstError
		}
	}
	st.bad = st.sent - st.reach
	return st
}

func isFront(h dnsprobe.Hop) bool {
	return h.Name == dnsprobe.HopResolvConf || h.Name == dnsprobe.HopNodeLocal || h.Name == dnsprobe.HopKubeDNS
}

func where(run dnsprobe.Result) string {
	if run.Where != "" {
		return run.Where
	}
	if run.Node != "" {
		return "node " + run.Node
	}
	return "the probe"
}

// collector merges findings with the same code and title (the same problem
// seen from several places), keeping every place's evidence.
type collector struct {
	order []string
	byKey map[string]*finding.Finding
}

func (c *collector) add(f finding.Finding) {
	if c.byKey == nil {
		c.byKey = map[string]*finding.Finding{}
	}
	k := f.Code + "|" + f.Title
	if prev, ok := c.byKey[k]; ok {
		for _, e := range f.Evidence {
			if !contains(prev.Evidence, e) {
				prev.Evidence = append(prev.Evidence, e)
			}
		}
		return
	}
	c.order = append(c.order, k)
	c.byKey[k] = &f
}

func (c *collector) has(code string) bool {
	for _, k := range c.order {
		if strings.HasPrefix(k, code+"|") {
			return true
		}
	}
	return false
}

func (c *collector) into(r *finding.Result) {
	for _, k := range c.order {
		r.Add(*c.byKey[k])
	}
}

var kubeDNSSubject = finding.Subject{Kind: "Service", Namespace: metav1.NamespaceSystem, Name: KubeDNSService}

// Probes turns the DNS probe's observations (probes/dns.json) into
// findings: cluster DNS not answering (DNS001, confirming or refuting the
// static check), external names failing at the CoreDNS -> upstream hop
// (DNS002), truncated answers and musl clients (DNS003), intermittent
// failures or latency at one hop or one CoreDNS pod (DNS006), ndots
// amplification for the pod probed (DNS007), and query logging off while
// DNS fails (DNS009).
func Probes(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	checks := []string{"dns/probe-cluster", "dns/probe-upstream", "dns/probe-truncation", "dns/probe-intermittent"}
	b, ok := s.File(dnsprobe.ObservationsPath)
	if !ok {
		for _, c := range checks {
			r.Check(c, finding.Skipped, "no DNS probe observations ("+dnsprobe.ObservationsPath+"): run 'netdoctor diagnose --probe' or 'netdoctor dns'")
		}
		return r
	}
	obs, err := dnsprobe.DecodeObservations(b)
	if err != nil {
		for _, c := range checks {
			r.Check(c, finding.Error, err.Error())
		}
		return r
	}
	for _, f := range obs.Failed {
		r.Check("dns/probe-run", finding.Error, f.Where+": "+f.Error)
	}
	if len(obs.Runs) == 0 {
		for _, c := range checks {
			r.Check(c, finding.Skipped, "the DNS probe did not run anywhere")
		}
		return r
	}
	staticDNS001 := len(KubeDNS(s).Findings) > 0
	var c collector
	status := map[string][]string{}
	fail := func(check, reason string) { status[check] = append(status[check], reason) }
	for _, run := range obs.Runs {
		down := probeCluster(s, run, staticDNS001, &c, fail)
		dns002 := probeUpstream(run, &c, fail)
		probeTruncation(s, run, &c, fail)
		if !down {
			// Failing outright is DNS001's, not intermittent.
			probeIntermittent(s, run, dns002, &c, fail)
		}
		probeNdots(run, obs.Names, &c)
	}
	if c.has("DNS001") || c.has("DNS002") || c.has("DNS006") {
		probeLogging(s, &c)
	}
	c.into(&r)
	if staticDNS001 && len(status["dns/probe-cluster"]) == 0 {
		status["dns/probe-cluster-passed"] = []string{"DNS001 from the objects, yet the probe's cluster names were answered: what is left (terminating CoreDNS pods, a kube-proxy not yet updated, caches) still serves, for now"}
	}
	for _, name := range checks {
		if name == "dns/probe-cluster" && len(status[name]) == 0 && len(status["dns/probe-cluster-passed"]) > 0 {
			r.Check(name, finding.Passed, status["dns/probe-cluster-passed"][0])
			continue
		}
		if reasons := status[name]; len(reasons) > 0 {
			r.Check(name, finding.Failed, strings.Join(reasons, "; "))
		} else {
			r.Check(name, finding.Passed, fmt.Sprintf("%d place(s) probed", len(obs.Runs)))
		}
	}
	return r
}

// byName sums a hop's series per name asked (cache-busting names apart).
func byName(h dnsprobe.HopResult, kind string) (names []string, stats map[string]stat) {
	stats = map[string]stat{}
	for _, se := range h.Series {
		if kind != "" && se.Kind != kind {
			continue
		}
		d := se.Display()
		if _, ok := stats[d]; !ok {
			names = append(names, d)
		}
		one := dnsprobe.HopResult{Hop: h.Hop, Series: []dnsprobe.Series{se}}
		st := statOf(one, "", "")
		prev := stats[d]
		prev.sent += st.sent
		prev.reach += st.reach
		prev.bad += st.bad
		prev.timeouts += st.timeouts
		prev.errors += st.errors
		prev.servfail += st.servfail
		prev.refused += st.refused
		if st.p99 > prev.p99 {
			prev.p99 = st.p99
		}
		if st.max > prev.max {
			prev.max = st.max
		}
		if prev.firstError == "" {
			prev.firstError = st.firstError
		}
		stats[d] = prev
	}
	sort.Strings(names)
	return names, stats
}

// probeCluster: cluster names through the front hops (DNS001 by probe). A
// cache-busting name that nobody answers while a cached one is answered
// means only NodeLocal DNS's or CoreDNS's cache is left.
func probeCluster(s *snapshot.Snapshot, run dnsprobe.Result, staticDNS001 bool, c *collector, fail func(string, string)) bool {
	var deadFront []string
	var ev []string
	coreAnswer := 0
	cachedOnly := false
	for _, h := range run.Hops {
		if !isFront(h.Hop) && h.Hop.Name != dnsprobe.HopCoreDNS {
			continue
		}
		names, stats := byName(h, dnsprobe.KindCluster)
		var dead []string
		answered := 0
		for _, n := range names {
			st := stats[n]
			ev = append(ev, fmt.Sprintf("%s, %s: %s", h.Hop.Label(), n, st))
			if st.sent > 0 && st.reach == 0 {
				dead = append(dead, n)
			} else if st.reach > 0 {
				answered++
			}
		}
		if h.Hop.Name == dnsprobe.HopCoreDNS && answered > 0 && len(dead) == 0 {
			coreAnswer++
		}
		if isFront(h.Hop) && len(dead) > 0 {
			deadFront = append(deadFront, h.Hop.Label())
			if answered > 0 {
				cachedOnly = true
			}
		}
	}
	if len(deadFront) == 0 {
		return false
	}
	fail("dns/probe-cluster", where(run)+": no answer from "+strings.Join(deadFront, ", "))
	if staticDNS001 && coreAnswer == 0 {
		return true // the static DNS001 already says it; the check records the confirmation
	}
	f := finding.Finding{
		Code: "DNS001", Severity: finding.Critical, Subjects: []finding.Subject{kubeDNSSubject},
		Evidence:    append([]string{"probed from " + where(run)}, ev...),
		Remediation: []string{"kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide", "kubectl -n kube-system logs -l k8s-app=kube-dns --tail=50"},
	}
	switch {
	case coreAnswer > 0:
		f.Title = "kube-dns does not answer although CoreDNS pods do"
		f.Explanation = "Queried directly, the CoreDNS pods answer; through the address in the pods' resolv.conf (the kube-dns ClusterIP, or NodeLocal DNS in front of it) names no cache holds get no answer. The break is between the pod and CoreDNS: kube-proxy's DNAT for kube-dns on this node (KUBE-SVC rules, endpoints), or NodeLocal DNS on this node."
		f.Remediation = append(f.Remediation, "netdoctor trace --to "+firstAddr(run, dnsprobe.HopKubeDNS)+":53/udp   # where the packet to kube-dns goes on the node", "kubectl -n kube-system get pods -l k8s-app=node-local-dns -o wide")
	case cachedOnly:
		f.Title = "Cluster DNS answers only from cache (probe)"
		f.Explanation = "Names a cache already holds are still answered (NodeLocal DNS and CoreDNS keep answers up to their TTL), but a name asked for the first time gets no answer: nothing behind the caches answers. Every new lookup fails, and the cached ones will as their TTLs run out."
	default:
		f.Title = "Cluster DNS does not answer (probe)"
		f.Explanation = "No DNS server on the path answered a cluster name: not the resolv.conf nameserver, not kube-dns, not any CoreDNS pod. Every lookup from pods fails. The CoreDNS pods may look Ready while their process does not answer (a crash, a deadlock, a NetworkPolicy on kube-system)."
	}
	c.add(f)
	return true
}

func firstAddr(run dnsprobe.Result, name string) string {
	for _, h := range run.Hops {
		if h.Hop.Name == name {
			return h.Hop.Addr
		}
	}
	return "KUBE-DNS-IP"
}

// probeUpstream: cluster names fine, external names failing (DNS002).
func probeUpstream(run dnsprobe.Result, c *collector, fail func(string, string)) bool {
	clusterOK := false
	var ext stat
	var extEv []string
	var core stat
	for _, h := range run.Hops {
		cl := statOf(h, dnsprobe.KindCluster, "")
		if (isFront(h.Hop) || h.Hop.Name == dnsprobe.HopCoreDNS) && cl.sent > 0 && 1-cl.rate() >= workingMin {
			clusterOK = true
		}
		if isFront(h.Hop) || h.Hop.Name == dnsprobe.HopCoreDNS {
			st := statOf(h, dnsprobe.KindExternal, "")
			if st.sent == 0 {
				continue
			}
			extEv = append(extEv, fmt.Sprintf("%s, external names: %s", h.Hop.Label(), st))
			ext.sent += st.sent
			ext.bad += st.bad
			if h.Hop.Name == dnsprobe.HopCoreDNS {
				core.sent += st.sent
				core.servfail += st.servfail
				core.timeouts += st.timeouts
			}
		}
	}
	upDead := false
	for _, h := range run.Hops {
		if h.Hop.Name == dnsprobe.HopUpstream {
			if st := statOf(h, dnsprobe.KindExternal, ""); st.sent > 0 && st.rate() >= brokenMin {
				upDead = true
			}
		}
	}
	if !clusterOK || ((ext.sent == 0 || ext.rate() < brokenMin) && !upDead) {
		return false
	}
	ev := append([]string{"probed from " + where(run)}, extEv...)
	var cause []string
	ups := 0
	for _, h := range run.Hops {
		if h.Hop.Name != dnsprobe.HopUpstream {
			continue
		}
		ups++
		udp := statOf(h, dnsprobe.KindExternal, "udp")
		tcp := statOf(h, dnsprobe.KindExternal, "tcp")
		ev = append(ev, fmt.Sprintf("%s directly over UDP: %s", h.Hop.Label(), udp), fmt.Sprintf("%s directly over TCP: %s", h.Hop.Label(), tcp))
		switch {
		case udp.sent > 0 && udp.rate() >= brokenMin && tcp.sent > 0 && tcp.rate() < brokenMin:
			cause = append(cause, fmt.Sprintf("UDP to the upstream %s gets no answer while TCP does: a firewall, NSG or NVA drops 53/udp", h.Hop.Addr))
		case udp.servfail+udp.refused+tcp.servfail+tcp.refused > (udp.sent+tcp.sent)/2:
			cause = append(cause, fmt.Sprintf("the upstream %s itself answers SERVFAIL or REFUSED: the DNS server fails or refuses the cluster's queries", h.Hop.Addr))
		case udp.rate() >= brokenMin && (tcp.sent == 0 || tcp.rate() >= brokenMin):
			cause = append(cause, fmt.Sprintf("the upstream %s answers neither UDP nor TCP: a route (UDR to an appliance, a blackhole) or a firewall between the nodes and it, or the server is down", h.Hop.Addr))
		default:
			cause = append(cause, fmt.Sprintf("the upstream %s answers this probe but CoreDNS's forwarded queries fail: compare CoreDNS's forward targets with it, and the egress path from the CoreDNS pods' nodes", h.Hop.Addr))
		}
	}
	if ups == 0 {
		cause = append(cause, "the upstream was not probed directly (CoreDNS forwards to the node's resolv.conf; run 'netdoctor dns --node NODE' to probe it from a node)")
	}
	if core.sent > 0 {
		ev = append(ev, fmt.Sprintf("CoreDNS pods returned SERVFAIL %d and timed out %d times for %d external queries: what its forward plugin does when the upstream does not answer", core.servfail, core.timeouts, core.sent))
	}
	if ext.sent > 0 && ext.rate() < brokenMin {
		ev = append(ev, "external names are still answered through CoreDNS: from its cache (and NodeLocal DNS's), until their TTLs run out")
	}
	ev = append(ev, cause...)
	fail("dns/probe-upstream", where(run)+": external names fail while cluster names resolve")
	c.add(finding.Finding{
		Code: "DNS002", Severity: finding.Critical,
		Subjects:    []finding.Subject{kubeDNSSubject, {Kind: "ConfigMap", Namespace: metav1.NamespaceSystem, Name: CoreDNSConfigMap}},
		Title:       "External names fail at the CoreDNS -> upstream hop while cluster names resolve",
		Evidence:    ev,
		Explanation: "CoreDNS answers cluster names itself and forwards everything else to its upstream (forward . /etc/resolv.conf: the nodes' DNS servers). Cluster names resolve, external ones do not, so the pod -> CoreDNS part works and the CoreDNS -> upstream hop is broken. Seed 000's usual causes: a route table (UDR) on the node subnet that blackholes the path to the DNS server, or a firewall that blocks UDP 53.",
		Remediation: []string{
			"kubectl -n kube-system get configmap coredns coredns-custom -o yaml   # the forward targets",
			"netdoctor dns --node NODE --name NAME   # probe the upstream from the node, UDP and TCP",
			"az network vnet subnet show -g RG --vnet-name VNET -n SUBNET --query routeTable.id   # a UDR on the node subnet",
			"az network route-table route list -g RG --route-table-name RT -o table",
			"az network nsg rule list -g RG --nsg-name NSG -o table   # outbound 53/udp and 53/tcp",
		},
	})
	return true
}

// muslWorkload is a workload whose image is musl-based.
type muslWorkload struct {
	subject finding.Subject
	why     string
	pods    []string
}

func muslWorkloads(s *snapshot.Snapshot) []*muslWorkload {
	byKey := map[string]*muslWorkload{}
	var keys []string
	for i := range s.Pods {
		p := &s.Pods[i]
		if skipNamespace(p.Namespace) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.Spec.DNSPolicy == corev1.DNSDefault || (p.Spec.HostNetwork && p.Spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet) {
			continue // does not use cluster DNS
		}
		for _, ct := range p.Spec.Containers {
			ok, why := muslImage(ct.Image)
			if !ok {
				continue
			}
			o := ownerOf(p)
			k := o.String()
			w := byKey[k]
			if w == nil {
				w = &muslWorkload{subject: o, why: why}
				byKey[k] = w
				keys = append(keys, k)
			}
			w.pods = append(w.pods, p.Name)
			break
		}
	}
	sort.Strings(keys)
	out := make([]*muslWorkload, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// probeTruncation: TC answers and who cannot handle them (DNS003).
func probeTruncation(s *snapshot.Snapshot, run dnsprobe.Result, c *collector, fail func(string, string)) {
	type tc struct {
		name           string
		hops           []string
		truncated      int
		tried, retryOK int
	}
	byName := map[string]*tc{}
	var names []string
	for _, h := range run.Hops {
		for _, se := range h.Series {
			if se.Truncated == 0 {
				continue
			}
			t := byName[se.QName]
			if t == nil {
				t = &tc{name: se.QName}
				byName[se.QName] = t
				names = append(names, se.QName)
			}
			if !contains(t.hops, h.Hop.Label()) {
				t.hops = append(t.hops, h.Hop.Label())
			}
			t.truncated += se.Truncated
			t.tried += se.TCPRetry.Tried
			t.retryOK += se.TCPRetry.OK
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	ev := []string{"probed from " + where(run) + " with plain (non-EDNS0) queries, as libc resolvers send them"}
	tcpWorks := true
	for _, n := range names {
		t := byName[n]
		ev = append(ev, fmt.Sprintf("%s: %d truncated (TC) UDP answers at %s; the same query over TCP succeeded %d/%d times", n, t.truncated, strings.Join(t.hops, ", "), t.retryOK, t.tried))
		if t.tried > 0 && t.retryOK == 0 {
			tcpWorks = false
		}
	}
	workloads := muslWorkloads(s)
	var subjects []finding.Subject
	besideMusl := false
	for _, w := range workloads {
		subjects = append(subjects, w.subject)
		ev = append(ev, fmt.Sprintf("%s %s/%s (%s): %s", w.subject.Kind, w.subject.Namespace, w.subject.Name, strings.Join(firstN(w.pods, 3), ", ")+more(len(w.pods), 3), w.why))
		if run.Pod != "" {
			for _, p := range w.pods {
				if w.subject.Namespace+"/"+p == run.Pod {
					besideMusl = true
				}
			}
		}
	}
	switch {
	case !tcpWorks:
		fail("dns/probe-truncation", where(run)+": truncated answers and TCP fails")
		c.add(finding.Finding{
			Code: "DNS003", Severity: finding.Critical, Subjects: append([]finding.Subject{kubeDNSSubject}, subjects...),
			Title:       "DNS answers are truncated and the same queries fail over TCP",
			Evidence:    ev,
			Explanation: "The answers do not fit in 512 bytes, so they come back truncated over UDP, and asking again over TCP fails too: no client, glibc or musl, gets these names. TCP 53 is blocked or broken somewhere on the path (a NetworkPolicy allowing only UDP 53, a firewall, NodeLocal DNS or CoreDNS not listening on TCP).",
			Remediation: []string{"allow TCP 53 wherever UDP 53 is allowed (NetworkPolicies, NSG, firewall)", "dig +tcp @KUBE-DNS-IP NAME   # from a pod"},
		})
	case len(workloads) > 0:
		fail("dns/probe-truncation", where(run)+": truncated answers and musl workloads")
		sev := finding.Warning
		if besideMusl {
			sev = finding.Critical
			ev = append(ev, "the probe ran beside "+run.Pod+", whose image is musl-based: its lookups of these names fail")
		}
		c.add(finding.Finding{
			Code: "DNS003", Severity: sev, Subjects: subjects,
			Title:       fmt.Sprintf("Truncated DNS answers break %d workload(s) on musl-based images", len(workloads)),
			Evidence:    ev,
			Explanation: "These names get truncated (TC) answers over UDP. A glibc resolver asks again over TCP and succeeds, as the probe did; musl libc before 1.2.4 (Alpine before 3.18) never retries over TCP, so in these workloads the lookups fail or come back empty while the same image on glibc works.",
			Remediation: []string{"rebuild on a glibc base (debian-slim, distroless) or on Alpine 3.18+ (musl 1.2.4, which retries over TCP)", "make the answer smaller (fewer A records per name) or serve it from a name that is not truncated"},
		})
	}
}

// probeIntermittent: hops that fail some of the time, or are slow (DNS006).
func probeIntermittent(s *snapshot.Snapshot, run dnsprobe.Result, dns002 bool, c *collector, fail func(string, string)) {
	// Names with truncated answers fail over UDP by design: DNS003's.
	truncated := map[string]bool{}
	for _, h := range run.Hops {
		for _, se := range h.Series {
			if se.Truncated > 0 {
				truncated[se.QName] = true
			}
		}
	}
	var front, core, up []hopStat
	for _, h := range run.Hops {
		var st stat
		switch {
		case h.Hop.Name == dnsprobe.HopUpstream:
			if dns002 {
				continue
			}
			st = statExcept(h, dnsprobe.KindExternal, "", truncated)
		case dns002:
			st = statExcept(h, dnsprobe.KindCluster, "", truncated)
		default:
			st = statExcept(h, "", "", truncated)
		}
		if st.sent == 0 {
			continue
		}
		hs := hopStat{h, st}
		switch {
		case h.Hop.Name == dnsprobe.HopCoreDNS:
			core = append(core, hs)
		case h.Hop.Name == dnsprobe.HopUpstream:
			up = append(up, hs)
		default:
			front = append(front, hs)
		}
	}
	flaky := func(st stat, allowTotal bool) bool {
		r := st.rate()
		if st.bad >= 2 && r >= intermittentMin && (allowTotal || r < workingMin) {
			return true
		}
		return st.reach > 0 && st.p99 >= slowP99MS
	}
	var badCore, goodCore []hopStat
	for _, hs := range core {
		if flaky(hs.st, true) {
			badCore = append(badCore, hs)
		} else if hs.st.rate() < intermittentMin {
			goodCore = append(goodCore, hs)
		}
	}
	var ctx []string
	for _, hs := range front {
		ctx = append(ctx, fmt.Sprintf("%s: %s", hs.h.Hop.Label(), hs.st))
	}
	conntrack := conntrackEvidence(s, run.Node)
	switch {
	case len(badCore) > 0 && len(goodCore) > 0:
		for _, hs := range badCore {
			_, name, _ := strings.Cut(hs.h.Hop.Pod, "/")
			subj := finding.Subject{Kind: "Pod", Namespace: metav1.NamespaceSystem, Name: name}
			ev := []string{"probed from " + where(run), fmt.Sprintf("%s: %s (%.0f%% failed)", hs.h.Hop.Label(), hs.st, hs.st.rate()*100)}
			for _, g := range goodCore {
				ev = append(ev, fmt.Sprintf("%s: %s", g.h.Hop.Label(), g.st))
			}
			ev = append(ev, ctx...)
			if hs.h.Hop.Node != "" {
				ev = append(ev, conntrackEvidence(s, hs.h.Hop.Node)...)
			}
			fail("dns/probe-intermittent", where(run)+": CoreDNS pod "+hs.h.Hop.Pod)
			c.add(finding.Finding{
				Code: "DNS006", Severity: finding.Warning, Subjects: []finding.Subject{subj},
				Title:       fmt.Sprintf("CoreDNS pod %s fails %.0f%% of queries while the other replicas answer", name, hs.st.rate()*100),
				Evidence:    ev,
				Explanation: "Queried one by one, this CoreDNS replica loses or fails queries and the others do not. kube-dns spreads queries over every replica, so pods see a share of their lookups time out, which looks random from the pod. The problem is that replica or its node (packet loss on its interface, CPU throttling, a bad node), not the Corefile, which every replica shares.",
				Remediation: []string{
					fmt.Sprintf("kubectl -n kube-system delete pod %s   # the Deployment recreates it, usually elsewhere", name),
					fmt.Sprintf("kubectl -n kube-system describe pod %s; kubectl -n kube-system logs %s --tail=50", name, name),
					"kubectl describe node " + orDefault(hs.h.Hop.Node, "NODE") + "   # the node it ran on",
				},
			})
		}
		return
	case len(badCore) > 0 && len(badCore) == len(core) && !allDead(badCore):
		ev := []string{"probed from " + where(run)}
		for _, hs := range badCore {
			ev = append(ev, fmt.Sprintf("%s: %s", hs.h.Hop.Label(), hs.st))
		}
		ev = append(ev, ctx...)
		fail("dns/probe-intermittent", where(run)+": every CoreDNS pod")
		c.add(finding.Finding{
			Code: "DNS006", Severity: finding.Warning, Subjects: []finding.Subject{kubeDNSSubject},
			Title:       "Every CoreDNS pod fails or answers slowly some of the time",
			Evidence:    ev,
			Explanation: "All replicas behave alike, so the cause is shared: the upstream they forward to (slow or lossy), CoreDNS's capacity (too few replicas, CPU limits and throttling), or the Corefile.",
			Remediation: []string{"kubectl -n kube-system top pods -l k8s-app=kube-dns", "kubectl -n kube-system get deploy coredns; kubectl -n kube-system get configmap coredns-autoscaler -o yaml"},
		})
		return
	}
	var flakyFront []hopStat
	pairLoss := 0
	if len(badCore) > 0 {
		front = nil // the CoreDNS pods fail too: not the pod's path
	}
	for _, hs := range front {
		if flaky(hs.st, false) {
			flakyFront = append(flakyFront, hs)
			pairLoss += hs.st.pairLoss
		}
	}
	if len(flakyFront) > 0 {
		ev := []string{"probed from " + where(run)}
		var labels []string
		for _, hs := range flakyFront {
			ev = append(ev, fmt.Sprintf("%s: %s", hs.h.Hop.Label(), hs.st))
			labels = append(labels, hs.h.Hop.Name)
		}
		for _, g := range core {
			ev = append(ev, fmt.Sprintf("%s: %s", g.h.Hop.Label(), g.st))
		}
		ev = append(ev, conntrack...)
		expl := "Queries through the pod's path fail some of the time while the CoreDNS pods, asked directly, answer: the loss is on the way from the pod to CoreDNS on this node (kube-proxy's DNAT, conntrack, NodeLocal DNS)."
		if pairLoss > 0 {
			expl += " A and AAAA sent together from one socket lost one of the pair: the conntrack insert race of parallel UDP queries, which glibc clients see as 5-second delays (their retry timeout)."
		}
		fail("dns/probe-intermittent", where(run)+": "+strings.Join(labels, ", "))
		c.add(finding.Finding{
			Code: "DNS006", Severity: finding.Warning, Subjects: []finding.Subject{kubeDNSSubject},
			Title:       fmt.Sprintf("DNS through %s fails or is slow intermittently while the CoreDNS pods answer", strings.Join(labels, ", ")),
			Evidence:    ev,
			Explanation: expl,
			Remediation: []string{
				"NodeLocal DNS avoids the conntrack race (queries to the node are not tracked)",
				"in the pods' dnsConfig: options [{name: single-request-reopen}] (glibc) or use-vc to use TCP",
				"netdoctor diagnose --node-data   # conntrack insert_failed and the table's fill on the node",
			},
		})
	}
	for _, hs := range up {
		if !flaky(hs.st, false) {
			continue
		}
		fail("dns/probe-intermittent", where(run)+": "+hs.h.Hop.Label())
		c.add(finding.Finding{
			Code: "DNS006", Severity: finding.Warning, Subjects: []finding.Subject{kubeDNSSubject},
			Title:       fmt.Sprintf("The upstream DNS server %s fails or is slow intermittently", hs.h.Hop.Addr),
			Evidence:    []string{"probed from " + where(run), fmt.Sprintf("%s: %s", hs.h.Hop.Label(), hs.st)},
			Explanation: "Asked directly, the server CoreDNS forwards external names to loses or delays some queries; pods see it as intermittent failures of external names only.",
			Remediation: []string{"check the path to the upstream (UDR, firewall, NSG) and the upstream server's health and rate limits (Azure DNS allows 1000 queries/s per VM)"},
		})
	}
}

// hopStat is a hop with its summed series.
type hopStat struct {
	h  dnsprobe.HopResult
	st stat
}

func allDead(hs []hopStat) bool {
	for _, h := range hs {
		if h.st.rate() < workingMin {
			return false
		}
	}
	return true
}

// conntrackEvidence reads a node's conntrack counters, when collected.
func conntrackEvidence(s *snapshot.Snapshot, node string) []string {
	if node == "" {
		return nil
	}
	var ev []string
	if b, ok := s.NodeFile(node, nodedata.FileConntrackStats); ok {
		if st, err := nodedata.ParseConntrackS(snapshot.NodeFilePath(node, nodedata.FileConntrackStats), b); err == nil {
			t := st.Total()
			if t.InsertFailed > 0 || t.Drop > 0 {
				ev = append(ev, fmt.Sprintf("node %s conntrack: insert_failed %d, drop %d (insert_failed counts the parallel-UDP race)", node, t.InsertFailed, t.Drop))
			}
		}
	}
	if b, ok := s.NodeFile(node, nodedata.FileSysctls); ok {
		if sc, err := nodedata.ParseSysctls(snapshot.NodeFilePath(node, nodedata.FileSysctls), b); err == nil {
			n, ok1, _ := sc.Int("net.netfilter.nf_conntrack_count")
			m, ok2, _ := sc.Int("net.netfilter.nf_conntrack_max")
			if ok1 && ok2 && m > 0 && float64(n)/float64(m) >= 0.8 {
				ev = append(ev, fmt.Sprintf("node %s conntrack table %d/%d (%.0f%% full): new flows are dropped when it fills", node, n, m, float64(n)/float64(m)*100))
			}
		}
	}
	return ev
}

// probeNdots: search-list amplification for the pod probed (DNS007).
func probeNdots(run dnsprobe.Result, names []dnsprobe.Name, c *collector) {
	rc := run.ResolvConf
	if run.Pod == "" || rc == nil || rc.Ndots < 2 || len(rc.Search) == 0 {
		return
	}
	var ev []string
	for _, n := range names {
		if n.Kind != dnsprobe.KindExternal || strings.HasSuffix(n.Name, ".") {
			continue
		}
		dots := strings.Count(n.Name, ".")
		if dots >= rc.Ndots {
			continue
		}
		tries := len(rc.Search) + 1
		ev = append(ev, fmt.Sprintf("%s has %d dot(s) < ndots:%d: tried as %s first, then as is: %d queries for A and %d for AAAA, %d of them NXDOMAIN, instead of 1 and 1",
			n.Name, dots, rc.Ndots, n.Name+"."+rc.Search[0]+" ...", tries, tries, 2*(tries-1)))
	}
	if len(ev) == 0 {
		return
	}
	ns, name, _ := strings.Cut(run.Pod, "/")
	ev = append([]string{fmt.Sprintf("resolv.conf of %s: search %s, ndots:%d", run.Pod, strings.Join(rc.Search, " "), rc.Ndots)}, ev...)
	c.add(finding.Finding{
		Code: "DNS007", Severity: finding.Info, Subjects: []finding.Subject{{Kind: "Pod", Namespace: ns, Name: name}},
		Title:       fmt.Sprintf("ndots:%d multiplies external lookups from %s", rc.Ndots, run.Pod),
		Evidence:    ev,
		Explanation: "A name with fewer dots than ndots is tried with each search domain before it is tried as is; each try is a round trip to CoreDNS (and for unknown names, to the upstream), for A and AAAA. It adds latency to every external lookup and load on DNS.",
		Remediation: []string{
			"use the FQDN with a trailing dot in the application's configuration (api.example.com.)",
			"or lower ndots for the workload: spec.template.spec.dnsConfig: {options: [{name: ndots, value: \"2\"}]}",
		},
	})
}

// probeLogging: DNS fails and nothing logs queries (DNS009).
func probeLogging(s *snapshot.Snapshot, c *collector) {
	cf, present, _ := coreDNSCorefile(s)
	if !present || queryLogging(cf) {
		return
	}
	ev := []string{"no log plugin in kube-system/coredns (+ coredns-custom)"}
	nl := findNodeLocal(s)
	if nl.InUse && nl.Corefile != nil && !queryLogging(nl.Corefile) {
		ev = append(ev, "no log plugin in kube-system/node-local-dns")
	}
	c.add(finding.Finding{
		Code: "DNS009", Severity: finding.Info, Subjects: []finding.Subject{{Kind: "ConfigMap", Namespace: metav1.NamespaceSystem, Name: CustomConfigMap}},
		Title:       "Turn on DNS query logging while investigating",
		Evidence:    ev,
		Explanation: "DNS is failing and CoreDNS does not log queries, so its logs cannot show which names fail and with which rcode. The log plugin prints one line per query (name, type, rcode, duration).",
		Remediation: []string{
			`kubectl -n kube-system patch configmap coredns-custom --type merge -p '{"data":{"log.override":"log\n"}}'`,
			"kubectl -n kube-system rollout restart deployment coredns",
			"kubectl -n kube-system logs -l k8s-app=kube-dns -f",
			"remove the log.override key afterwards: query logs are verbose",
		},
	})
}
