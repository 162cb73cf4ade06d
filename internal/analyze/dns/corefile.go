package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/corefile"
	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Placeholders of the NodeLocal DNS manifest that its installer must
// replace; node-cache itself fills __PILLAR__CLUSTER__DNS__ and
// __PILLAR__UPSTREAM__SERVERS__ at run time.
var installPlaceholders = []string{"__PILLAR__LOCAL__DNS__", "__PILLAR__DNS__SERVER__", "__PILLAR__DNS__DOMAIN__"}

var runtimePlaceholders = map[string]bool{"__PILLAR__CLUSTER__DNS__": true, "__PILLAR__UPSTREAM__SERVERS__": true}

// Corefiles checks the CoreDNS Corefile (coredns + coredns-custom, composed
// as AKS does) and the NodeLocal DNS Corefile: they parse, forward to
// addresses, NodeLocal's placeholders are replaced and its bind addresses
// fit, the loop plugin is present (DNS005); and reads cache settings back
// in words when they go beyond a plain TTL (DNS008).
func Corefiles(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	if reason, skipped := s.Skipped("configmaps"); skipped {
		r.Check("dns/corefile", finding.Skipped, "configmaps could not be collected: "+reason)
		r.Check("dns/node-local-dns-config", finding.Skipped, "configmaps could not be collected: "+reason)
		return r
	}
	dnsIP, _ := kubeDNSIP(s)

	cf, present, err := coreDNSCorefile(s)
	switch {
	case !present:
		r.Check("dns/corefile", finding.Skipped, "no coredns ConfigMap in kube-system")
	default:
		before := len(r.Findings)
		parseFindings(&r, err)
		if cf != nil {
			checkServers(&r, cf, false, dnsIP, "")
		}
		upstream := ""
		if cf != nil {
			upstream = nodeUpstreams(&r, s, cf)
		}
		status, reason := finding.Passed, fmt.Sprintf("%d server block(s) parsed%s", serverCount(cf), upstream)
		if n := problems(r.Findings[before:]); n > 0 {
			status, reason = finding.Failed, fmt.Sprintf("%d problem(s)%s", n, upstream)
		}
		r.Check("dns/corefile", status, reason)
	}

	cm := s.Index().ConfigMap(metav1.NamespaceSystem, NodeLocalConfigMap)
	if cm == nil {
		r.Check("dns/node-local-dns-config", finding.Skipped, "no node-local-dns ConfigMap in kube-system (NodeLocal DNS not deployed)")
		return r
	}
	text, ok := cm.Data["Corefile"]
	if !ok {
		r.Add(finding.Finding{
			Code: "DNS005", Severity: finding.Critical,
			Subjects:    []finding.Subject{{Kind: "ConfigMap", Namespace: metav1.NamespaceSystem, Name: NodeLocalConfigMap}},
			Title:       "node-local-dns ConfigMap has no Corefile key",
			Evidence:    []string{"keys: " + strings.Join(keysOf(cm.Data), ", ")},
			Explanation: "node-cache reads its configuration from the Corefile key; without it NodeLocal DNS does not start and pods on every node lose DNS.",
			Remediation: []string{"kubectl -n kube-system get configmap node-local-dns -o yaml"},
		})
		r.Check("dns/node-local-dns-config", finding.Failed, "no Corefile key")
		return r
	}
	before := len(r.Findings)
	source := metav1.NamespaceSystem + "/" + NodeLocalConfigMap + ":Corefile"
	placeholders(&r, source, text)
	nl, perr := corefile.Parse(source, []byte(text))
	parseFindings(&r, perr)
	if nl != nil {
		checkServers(&r, nl, true, dnsIP, boundLinkLocal(nl))
	}
	status, reason := finding.Passed, fmt.Sprintf("%d server block(s) parsed", serverCount(nl))
	if n := problems(r.Findings[before:]); n > 0 {
		status, reason = finding.Failed, fmt.Sprintf("%d problem(s)", n)
	}
	r.Check("dns/node-local-dns-config", status, reason)
	return r
}

// nodeUpstreams reads, when CoreDNS forwards to /etc/resolv.conf, the
// upstream servers from the nodes' collected resolv.conf, for the check's
// reason; nodes that disagree are a DNS005 warning (a VNet DNS change that
// only some nodes picked up).
func nodeUpstreams(r *finding.Result, s *snapshot.Snapshot, cf *corefile.Corefile) string {
	var fwd *corefile.Directive
	for _, srv := range cf.Servers {
		if !contains(srv.Zones(), ".") {
			continue
		}
		for _, f := range srv.Plugin("forward") {
			if len(f.Args) > 1 && contains(f.Args[1:], "/etc/resolv.conf") {
				f := f
				fwd = &f
			}
		}
	}
	if fwd == nil {
		return ""
	}
	byServers := map[string][]string{}
	for _, node := range s.NodesWithFiles() {
		b, ok := s.NodeFile(node, nodedata.FileResolvConf)
		if !ok {
			continue
		}
		rc, err := dnsprobe.ParseResolvConf(snapshot.NodeFilePath(node, nodedata.FileResolvConf), b)
		if err != nil {
			continue
		}
		k := strings.Join(rc.Nameservers, " ")
		byServers[k] = append(byServers[k], node)
	}
	if len(byServers) == 0 {
		return "; upstream: forward . /etc/resolv.conf, the nodes' DNS servers (collect with --node-data to read them)"
	}
	var sets []string
	for k := range byServers {
		sets = append(sets, k)
	}
	sort.Strings(sets)
	if len(sets) > 1 {
		var ev []string
		for _, k := range sets {
			ev = append(ev, fmt.Sprintf("nameservers [%s] on %s", k, strings.Join(firstN(byServers[k], 5), ", ")+more(len(byServers[k]), 5)))
		}
		r.Add(finding.Finding{
			Code: "DNS005", Severity: finding.Warning, Subjects: []finding.Subject{configMapSubject(fwd.Source)},
			Title:       "Nodes disagree on the upstream DNS servers CoreDNS forwards to",
			Evidence:    append([]string{fmt.Sprintf("%s: %s", fwd.Where(), fwd.String())}, ev...),
			Explanation: "CoreDNS forwards to /etc/resolv.conf, so each CoreDNS pod uses the DNS servers of the node it runs on. Nodes with different servers answer external names differently depending on which CoreDNS pod a query lands on: typically a VNet DNS server change that only nodes created or rebooted since picked up.",
			Remediation: []string{"restart or reimage the nodes with the old servers (az vmss update-instances / az aks nodepool upgrade --node-image-only), or set the VNet's DNS servers back", "kubectl -n kube-system rollout restart deployment coredns"},
		})
	}
	return fmt.Sprintf("; upstream: forward . /etc/resolv.conf, the nodes' DNS servers [%s]", strings.Join(sets, "] ["))
}

// problems counts the findings above info.
func problems(fs []finding.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity != finding.Info {
			n++
		}
	}
	return n
}

func serverCount(cf *corefile.Corefile) int {
	if cf == nil {
		return 0
	}
	return len(cf.Servers)
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseFindings reports each parse error (errors.Join of *ParseError).
func parseFindings(r *finding.Result, err error) {
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var pe *corefile.ParseError
		subj := finding.Subject{Kind: "ConfigMap", Namespace: metav1.NamespaceSystem, Name: CoreDNSConfigMap}
		where := ""
		if errors.As(e, &pe) {
			subj = configMapSubject(pe.Source)
			where = pe.Source
			if pe.Line > 0 {
				where += fmt.Sprintf(" line %d", pe.Line)
			}
		}
		r.Add(finding.Finding{
			Code: "DNS005", Severity: finding.Critical, Subjects: []finding.Subject{subj},
			Title:       "Corefile does not parse: " + strings.TrimSpace(where),
			Evidence:    []string{e.Error()},
			Explanation: "CoreDNS parses its whole configuration at start and at every reload; a syntax error makes a starting CoreDNS pod crash loop and a running one keep its old configuration (the reload plugin logs the error), so the change never takes effect.",
			Remediation: []string{
				fmt.Sprintf("kubectl -n %s edit configmap %s   # fix %s", subj.Namespace, subj.Name, strings.TrimSpace(where)),
				"kubectl -n kube-system logs -l k8s-app=kube-dns --tail=20   # the parser's message",
			},
		})
	}
}

// placeholders reports install-time placeholders left in NodeLocal's Corefile.
func placeholders(r *finding.Result, source, text string) {
	var ev []string
	for i, line := range strings.Split(text, "\n") {
		for _, p := range installPlaceholders {
			if strings.Contains(line, p) {
				ev = append(ev, fmt.Sprintf("%s:%d: %s", source, i+1, strings.TrimSpace(line)))
				break
			}
		}
	}
	if len(ev) == 0 {
		return
	}
	r.Add(finding.Finding{
		Code: "DNS005", Severity: finding.Critical, Subjects: []finding.Subject{configMapSubject(source)},
		Title:    "NodeLocal DNS Corefile still holds __PILLAR__ placeholders",
		Evidence: ev,
		Explanation: "The NodeLocal DNS manifest ships __PILLAR__LOCAL__DNS__ (169.254.20.10), __PILLAR__DNS__SERVER__ (the kube-dns ClusterIP) and __PILLAR__DNS__DOMAIN__ (cluster.local) for the installer to replace; node-cache only fills __PILLAR__CLUSTER__DNS__ and __PILLAR__UPSTREAM__SERVERS__ itself. " +
			"Left in place, node-local-dns binds and serves nothing useful and pods on every node time out.",
		Remediation: []string{
			`kubedns=$(kubectl -n kube-system get svc kube-dns -o jsonpath={.spec.clusterIP})`,
			`sed -i "s/__PILLAR__LOCAL__DNS__/169.254.20.10/g; s/__PILLAR__DNS__DOMAIN__/cluster.local/g; s/__PILLAR__DNS__SERVER__/$kubedns/g" nodelocaldns.yaml && kubectl apply -f nodelocaldns.yaml`,
		},
	})
}

// checkServers applies the per-server rules.
func checkServers(r *finding.Result, cf *corefile.Corefile, nodeLocal bool, dnsIP, localIP string) {
	for _, srv := range cf.Servers {
		for _, fwd := range srv.Plugin("forward") {
			checkForward(r, fwd, nodeLocal)
		}
		if srv.Has("forward") && !srv.Has("loop") && contains(srv.Zones(), ".") {
			r.Add(finding.Finding{
				Code: "DNS005", Severity: finding.Warning, Subjects: []finding.Subject{configMapSubject(srv.Source)},
				Title:       fmt.Sprintf("Server block %s forwards without the loop plugin", strings.Join(srv.Keys, " ")),
				Evidence:    []string{fmt.Sprintf("%s: server %s has forward but no loop", srv.Where(), strings.Join(srv.Keys, " "))},
				Explanation: "The loop plugin detects a forwarding loop (CoreDNS forwarding to itself, e.g. through a node resolv.conf pointing at 127.0.0.53 or at the cluster DNS) at start and stops, which makes the problem visible; without it queries circle until they time out and CoreDNS's memory grows.",
				Remediation: []string{fmt.Sprintf("add a line 'loop' to the server block at %s", srv.Where())},
			})
		}
		for _, c := range srv.Plugin("cache") {
			cacheReadBack(r, srv, c)
		}
		if nodeLocal {
			for _, b := range srv.Plugin("bind") {
				checkBind(r, b, dnsIP)
			}
		}
	}
	if nodeLocal && localIP == "" {
		var binds []string
		placeholder := false
		for _, srv := range cf.Servers {
			for _, b := range srv.Plugin("bind") {
				binds = append(binds, fmt.Sprintf("%s: %s", b.Where(), b.String()))
				placeholder = placeholder || strings.Contains(b.String(), "__PILLAR__")
			}
		}
		if len(binds) > 0 && !placeholder {
			r.Add(finding.Finding{
				Code: "DNS005", Severity: finding.Warning, Subjects: []finding.Subject{configMapSubject(cf.Servers[0].Source)},
				Title:       "NodeLocal DNS binds no link-local address",
				Evidence:    binds,
				Explanation: "NodeLocal DNS listens on a link-local address (169.254.20.10 by convention) that kubelet's clusterDNS or the pods' resolv.conf point at; without it only the kube-dns ClusterIP can be intercepted, and IPVS mode does not work at all.",
				Remediation: []string{"add 169.254.20.10 to the bind lines"},
			})
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// forwardTarget reports whether a forward TO is usable: an IP (with an
// optional port and dns:// or tls:// scheme) or a file (resolv.conf).
func forwardTarget(to string, nodeLocal bool) bool {
	if strings.HasPrefix(to, "/") {
		return true
	}
	if nodeLocal && runtimePlaceholders[to] {
		return true
	}
	for _, scheme := range []string{"dns://", "tls://"} {
		to = strings.TrimPrefix(to, scheme)
	}
	if _, err := netip.ParseAddr(to); err == nil {
		return true
	}
	host, port, err := net.SplitHostPort(to)
	if err != nil {
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err == nil
}

func checkForward(r *finding.Result, fwd corefile.Directive, nodeLocal bool) {
	if len(fwd.Args) < 2 {
		r.Add(finding.Finding{
			Code: "DNS005", Severity: finding.Critical, Subjects: []finding.Subject{configMapSubject(fwd.Source)},
			Title:       "forward has no target",
			Evidence:    []string{fmt.Sprintf("%s: %s", fwd.Where(), fwd.String())},
			Explanation: "forward needs a zone and at least one target (forward . /etc/resolv.conf, or forward . 10.1.0.4); CoreDNS refuses to start without one.",
			Remediation: []string{"fix the line at " + fwd.Where()},
		})
		return
	}
	var bad []string
	for _, to := range fwd.Args[1:] {
		if !forwardTarget(to, nodeLocal) {
			bad = append(bad, to)
		}
	}
	if len(bad) == 0 {
		return
	}
	r.Add(finding.Finding{
		Code: "DNS005", Severity: finding.Critical, Subjects: []finding.Subject{configMapSubject(fwd.Source)},
		Title:    fmt.Sprintf("forward target %s is not an address or a resolv.conf file", strings.Join(bad, ", ")),
		Evidence: []string{fmt.Sprintf("%s: %s", fwd.Where(), fwd.String())},
		Explanation: "CoreDNS's forward plugin takes IP addresses (optionally IP:port, dns:// or tls://) or a resolv.conf-style file; it does not resolve host names. " +
			"CoreDNS fails to load the configuration: a starting pod crash loops, a running one keeps its previous configuration.",
		Remediation: []string{fmt.Sprintf("replace %s at %s with the DNS server's IP address, or /etc/resolv.conf to use the node's DNS servers", strings.Join(bad, ", "), fwd.Where())},
	})
}

func checkBind(r *finding.Result, b corefile.Directive, dnsIP string) {
	var stray []string
	for _, a := range b.Args {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue // placeholders are reported on their own, interfaces are fine
		}
		if ip.IsLinkLocalUnicast() || a == dnsIP {
			continue
		}
		stray = append(stray, a)
	}
	if len(stray) > 0 && dnsIP != "" {
		r.Add(finding.Finding{
			Code: "DNS005", Severity: finding.Warning, Subjects: []finding.Subject{configMapSubject(b.Source)},
			Title:    fmt.Sprintf("NodeLocal DNS binds %s, which is not the kube-dns ClusterIP %s", strings.Join(stray, ", "), dnsIP),
			Evidence: []string{fmt.Sprintf("%s: %s", b.Where(), b.String()), "kube-system/kube-dns ClusterIP: " + dnsIP},
			Explanation: "In iptables mode node-local-dns binds its link-local address and the kube-dns ClusterIP, and adds NOTRACK rules for both, so the queries pods send to the ClusterIP are answered on the node. " +
				"Bound to a different address (a wrong __PILLAR__DNS__SERVER__, an old ClusterIP), it intercepts nothing the pods send and the queries go to CoreDNS directly, or it intercepts an address that belongs to something else.",
			Remediation: []string{fmt.Sprintf("set the bind line at %s to 'bind %s %s' (and the -localip argument of the node-local-dns DaemonSet to match)", b.Where(), DefaultNodeLocalIP, dnsIP)},
		})
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cacheReadBack explains a cache configuration beyond "cache TTL" in words
// (DNS008), as the seed does: prefetch, serve_stale, capacities, long TTLs.
func cacheReadBack(r *finding.Result, srv corefile.Server, c corefile.Directive) {
	var words []string
	notable := false
	if len(c.Args) > 0 {
		ttl := c.Args[0]
		if n, err := strconv.Atoi(ttl); err == nil && n > 300 {
			notable = true
		}
		words = append(words, fmt.Sprintf("cache %s: answers are kept at most %ss; a record's own TTL still caps it (a record with a 60s TTL is gone after 60s even though the cache would keep it %ss): the cache never extends a TTL", strings.Join(c.Args, " "), ttl, ttl))
	} else {
		words = append(words, "cache without a TTL: positive answers are kept at most 3600s and negative ones 1800s unless success/denial say otherwise; a record's own TTL always caps it: the cache never extends a TTL")
	}
	for _, sub := range c.Block {
		switch sub.Name {
		case "success", "denial":
			kind := "positive (NOERROR)"
			if sub.Name == "denial" {
				kind = "negative (NXDOMAIN, NODATA)"
			}
			w := fmt.Sprintf("%s: up to %s %s answers", sub.String(), argOr(sub.Args, 0, "9984"), kind)
			if len(sub.Args) > 1 {
				w += fmt.Sprintf(", each kept at most %ss (capped by its TTL)", sub.Args[1])
			}
			if len(sub.Args) > 2 {
				w += fmt.Sprintf(", at least %ss", sub.Args[2])
			}
			words = append(words, w)
		case "prefetch":
			notable = true
			amount := argOr(sub.Args, 0, "")
			dur := argOr(sub.Args, 1, "1m")
			pct := argOr(sub.Args, 2, "10%")
			if d, err := time.ParseDuration(dur); err == nil {
				dur = d.String()
			}
			words = append(words, fmt.Sprintf("%s: a record asked at least %s times, with no gap of more than %s between queries, is fetched again from upstream before it expires, once only %s of its TTL is left; prefetch refreshes, it never makes a record outlive its TTL", sub.String(), amount, dur, pct))
		case "serve_stale":
			notable = true
			words = append(words, fmt.Sprintf("%s: expired answers are served (for up to %s) when the upstream is unreachable, so a broken upstream shows as stale answers, not failures", sub.String(), argOr(sub.Args, 0, "1h")))
		default:
			words = append(words, sub.String())
		}
	}
	if !notable {
		return
	}
	r.Add(finding.Finding{
		Code: "DNS008", Severity: finding.Info, Subjects: []finding.Subject{configMapSubject(c.Source)},
		Title:       fmt.Sprintf("Cache settings of server %s, read back", strings.Join(srv.Keys, " ")),
		Evidence:    append([]string{c.Where() + ": " + c.String()}, words...),
		Explanation: "The cache TTL is a ceiling, not a lifetime: a record never stays longer than its own TTL. Without success/denial lines the defaults apply (9984 entries each, positive answers up to 3600s, negative up to 1800s) even when prefetch is set.",
		Remediation: []string{"see https://coredns.io/plugins/cache/ when the behaviour is not what was meant"},
	})
}

func argOr(args []string, i int, def string) string {
	if i < len(args) {
		return args[i]
	}
	return def
}
