//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// The DNS tests run `netdoctor dns` (and diagnose) against the lab with a
// fault on, and check that the right code names the right hop and object.

// dnsReport is `netdoctor dns -o json`.
type dnsReport struct {
	finding.Report
	DNSProbe dnsprobe.Observations `json:"dnsProbe"`
}

// runDNS runs `netdoctor dns ARGS -o json` with an agent namespace of its
// own and decodes the output.
func runDNS(t *testing.T, args ...string) (dnsReport, int) {
	t.Helper()
	args = append([]string{"dns"}, append(args, "-o", "json", "--agent-namespace", uniqueName("nd-e2e-dns-"))...)
	res := runNetdoctor(t, 4*time.Minute, args...)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("netdoctor %v: exit %d\nstderr: %s\nstdout: %s", args, res.ExitCode, res.Stderr, res.Stdout)
	}
	var rep dnsReport
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("dns output is not JSON: %v\n%s\nstderr: %s", err, res.Stdout, res.Stderr)
	}
	for _, f := range rep.DNSProbe.Failed {
		t.Errorf("the probe could not run from %s: %s", f.Where, f.Error)
	}
	for _, f := range rep.Findings {
		t.Logf("%s %s: %s\n\t%s", f.Code, f.Severity, f.Title, strings.Join(f.Evidence, "\n\t"))
	}
	return rep, res.ExitCode
}

func dnsFindings(fs []finding.Finding, code string) []finding.Finding {
	var out []finding.Finding
	for _, f := range fs {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

func dnsCodes(fs []finding.Finding) string {
	var c []string
	for _, f := range fs {
		c = append(c, f.Code+"("+string(f.Severity)+")")
	}
	return strings.Join(c, " ")
}

func hasSubject(f finding.Finding, kind, ns, name string) bool {
	for _, s := range f.Subjects {
		if s.Kind == kind && s.Namespace == ns && s.Name == name {
			return true
		}
	}
	return false
}

// onlyDNS keeps the findings of the DNS area.
func onlyDNS(fs []finding.Finding) []finding.Finding {
	var out []finding.Finding
	for _, f := range fs {
		if strings.HasPrefix(f.Code, "DNS") {
			out = append(out, f)
		}
	}
	return out
}

func TestDNSHealthyLabHasNoDNSFindings(t *testing.T) {
	requireLab(t)
	lockFaults(t) // no other test's fault active
	rep, code := runDNS(t, "--name", "www.example.com", "--count", "20")
	if got := onlyDNS(rep.Findings); len(got) != 0 || code != 0 {
		t.Errorf("healthy lab: DNS findings %s (exit %d), want none: %+v", dnsCodes(got), code, got)
	}
	if len(rep.DNSProbe.Runs) != 1 {
		t.Fatalf("got %d probe runs, want 1", len(rep.DNSProbe.Runs))
	}
	hops := map[string]int{}
	for _, h := range rep.DNSProbe.Runs[0].Hops {
		hops[h.Hop.Name]++
		if tot := h.Totals(""); tot.Answered() != tot.Sent || tot.Sent == 0 || tot.Truncated > 0 {
			t.Errorf("%s: %d/%d answered (%d truncated), want all", h.Hop.Label(), tot.Answered(), tot.Sent, tot.Truncated)
		}
	}
	want := map[string]int{dnsprobe.HopNodeLocal: 1, dnsprobe.HopKubeDNS: 1, dnsprobe.HopCoreDNS: lab.CoreDNSReplicas, dnsprobe.HopUpstream: 1}
	for name, n := range want {
		if hops[name] != n {
			t.Errorf("hop %s probed %d times, want %d (hops %v)", name, hops[name], n, hops)
		}
	}

	// diagnose --probe runs the same probe and finds nothing either.
	res := runNetdoctor(t, 4*time.Minute, "diagnose", "--probe", "--probe-dns-name", "www.example.com", "--probe-dns-count", "10",
		"-o", "json", "-v", "--agent-namespace", uniqueName("nd-e2e-dns-"))
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("diagnose --probe: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var diag finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &diag); err != nil {
		t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
	}
	if got := onlyDNS(diag.Findings); len(got) != 0 {
		t.Errorf("healthy lab, diagnose --probe: DNS findings %s, want none: %+v", dnsCodes(got), got)
	}
	for _, c := range diag.Checks {
		if strings.HasPrefix(c.Name, "dns/probe") && c.Status != finding.Passed {
			t.Errorf("check %s %s: %s, want passed", c.Name, c.Status, c.Reason)
		}
	}
}

func TestDNSCoreDNSDown(t *testing.T) {
	l := requireLab(t)
	withFault(t, "coredns-down", lab.FaultOptions{})
	// Terminating CoreDNS pods still answer until they are gone.
	eventually(t, 2*time.Minute, "CoreDNS pods gone", func() error {
		pods, err := l.Client().CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n > 0 {
			return fmt.Errorf("%d CoreDNS pods left", n)
		}
		return nil
	})
	rep, code := runDNS(t, "--name", "www.example.com", "--count", "3", "--query-timeout", "1s", "-v")
	for _, run := range rep.DNSProbe.Runs {
		for _, h := range run.Hops {
			for _, n := range h.Names() {
				tot := h.TotalsOf(n)
				t.Logf("%s %s: %d/%d answered, rcodes %v", h.Hop.Label(), n, tot.Answered(), tot.Sent, tot.Rcodes)
			}
		}
	}
	got := dnsFindings(rep.Findings, "DNS001")
	if len(got) == 0 || code != 1 {
		t.Fatalf("coredns-down: findings %s (exit %d), want DNS001", dnsCodes(rep.Findings), code)
	}
	if !hasSubject(got[0], "Service", "kube-system", "kube-dns") || got[0].Severity != finding.Critical {
		t.Errorf("DNS001: %+v, want a critical finding about Service kube-system/kube-dns", got[0])
	}
	for _, c := range rep.Checks {
		if c.Name == "dns/probe-cluster" && c.Status != finding.Failed {
			t.Errorf("check %s %s, want failed: the probe confirms DNS001", c.Name, c.Status)
		}
	}
}

func TestDNSUpstreamBlocked(t *testing.T) {
	requireLab(t)
	withFault(t, "upstream-dns-blocked", lab.FaultOptions{})
	// A name no cache has seen: NodeLocal DNS and CoreDNS cache answers.
	name := uniqueName("nd") + ".example.com"
	rep, code := runDNS(t, "--name", name, "--count", "4", "--query-timeout", "1s")
	got := dnsFindings(rep.Findings, "DNS002")
	if len(got) != 1 || code != 1 {
		t.Fatalf("upstream-dns-blocked: findings %s (exit %d), want DNS002", dnsCodes(rep.Findings), code)
	}
	ev := strings.Join(got[0].Evidence, "\n")
	for _, want := range []string{"upstream (" + lab.UpstreamDNSIP + ") directly over UDP", "answers neither UDP nor TCP"} {
		if !strings.Contains(ev, want) {
			t.Errorf("DNS002 evidence lacks %q:\n%s", want, ev)
		}
	}
	if len(dnsFindings(rep.Findings, "DNS001")) != 0 {
		t.Errorf("DNS001 reported although cluster names resolve: %s", dnsCodes(rep.Findings))
	}
}

func TestDNSTruncationMuslClients(t *testing.T) {
	l := requireLab(t)
	// An application on a musl image (the lab runs it as a plain server).
	musl := createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("musl-app-"), Labels: map[string]string{"app": "musl-app"}},
		Spec:       corev1.PodSpec{NodeName: l.Nodes()[1].Name, Containers: []corev1.Container{{Name: "app", Image: "alpine:3.14"}}},
	})
	client := clientPod(t, 1)
	withFault(t, "dns-truncation", lab.FaultOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The symptom, as the field guide tells it: musl fails, glibc succeeds.
	big := uniqueName("t") + ".big.example.com"
	if out, err := l.Exec(ctx, client, l.Bin("resolve-musl"), big); err == nil {
		t.Errorf("musl client resolved %s through truncated answers, want a failure: %s", big, out)
	}
	if out, err := l.Exec(ctx, client, l.Bin("resolve-glibc"), big); err != nil {
		t.Errorf("glibc client: %v, want it to retry over TCP and resolve %s", err, big)
	} else if n := strings.Count(strings.TrimSpace(string(out)), "198.51.100."); n < 10 {
		t.Errorf("glibc client resolved %d addresses, want the big answer: %s", n, out)
	}

	rep, code := runDNS(t, "--from", musl.Namespace+"/"+musl.Name, "--name", uniqueName("t")+".big.example.com", "--count", "5")
	got := dnsFindings(rep.Findings, "DNS003")
	if len(got) != 1 || code != 1 {
		t.Fatalf("dns-truncation: findings %s (exit %d), want DNS003", dnsCodes(rep.Findings), code)
	}
	f := got[0]
	if !hasSubject(f, "Pod", musl.Namespace, musl.Name) {
		t.Errorf("DNS003 subjects %+v, want pod %s/%s", f.Subjects, musl.Namespace, musl.Name)
	}
	if f.Severity != finding.Critical {
		t.Errorf("DNS003 severity %s, want critical: the probe ran beside the musl pod", f.Severity)
	}
	ev := strings.Join(f.Evidence, "\n")
	if !regexp.MustCompile(`truncated \(TC\) UDP answers .* the same query over TCP succeeded [1-9]\d*/`).MatchString(ev) {
		t.Errorf("DNS003 evidence does not show TC over UDP and success over TCP:\n%s", ev)
	}
}

func TestDNSLossOnOneCoreDNSPod(t *testing.T) {
	requireLab(t)
	fs := withFault(t, "dns-loss", lab.FaultOptions{Probability: 0.3})
	bad := fs.Options.Pod
	rep, code := runDNS(t, "--name", "www.example.com", "--count", "30", "--query-timeout", "500ms")
	got := dnsFindings(rep.Findings, "DNS006")
	if len(got) == 0 || code != 0 && code != 1 {
		t.Fatalf("dns-loss on %s: findings %s (exit %d), want DNS006", bad, dnsCodes(rep.Findings), code)
	}
	named := false
	for _, f := range got {
		if hasSubject(f, "Pod", "kube-system", bad) {
			named = true
			if !strings.Contains(f.Title, bad) {
				t.Errorf("DNS006 title %q does not name %s", f.Title, bad)
			}
		}
		for _, s := range f.Subjects {
			if s.Kind == "Pod" && s.Name != bad {
				t.Errorf("DNS006 blames CoreDNS pod %s, but the loss is on %s", s.Name, bad)
			}
		}
	}
	if !named {
		t.Errorf("no DNS006 names the lossy CoreDNS pod %s: %+v", bad, got)
	}
}

// webNamespace creates namespace ns, deleted after the test, with one pod,
// web (app=web).
func webNamespace(t *testing.T, l *lab.Lab, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := l.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = l.Client().CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "ndlab/web:1"}}},
	})
}

// dnsOnlyToCoreDNS is a NetworkPolicy isolating every pod of ns for types
// whose only egress rule allows UDP and TCP 53 to the CoreDNS pods
// (k8s-app=kube-dns) in the namespaces nsLabels selects.
func dnsOnlyToCoreDNS(ns, name string, nsLabels map[string]string, types ...networkingv1.PolicyType) *networkingv1.NetworkPolicy {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	port := intstr.FromInt32(53)
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: types,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: nsLabels},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}, {Protocol: &tcp, Port: &port}},
			}},
		},
	}
}

func TestDNSNetworkPolicyBlocksNodeLocalDNS(t *testing.T) {
	l := requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := uniqueName("e2e-dns-np-")
	webNamespace(t, l, ns)
	// Seed 001's trap: DNS allowed to the CoreDNS pods by selector only.
	np := dnsOnlyToCoreDNS(ns, "default-deny", map[string]string{"kubernetes.io/metadata.name": "kube-system"}, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)
	if _, err := l.Client().NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	diagnose := func() []finding.Finding {
		res := runNetdoctor(t, 2*time.Minute, "diagnose", "-o", "json", "--fail-on", "none")
		if res.ExitCode != 0 {
			t.Fatalf("diagnose: exit %d: %s", res.ExitCode, res.Stderr)
		}
		var rep finding.Report
		if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
			t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
		}
		var out []finding.Finding
		for _, f := range dnsFindings(rep.Findings, "DNS004") {
			if hasSubject(f, "NetworkPolicy", ns, "default-deny") {
				out = append(out, f)
			}
		}
		return out
	}
	got := diagnose()
	if len(got) != 1 {
		t.Fatalf("DNS004 for %s: got %d findings, want 1", ns, len(got))
	}
	f := got[0]
	ev := strings.Join(f.Evidence, "\n")
	for _, want := range []string{"NodeLocal DNS " + lab.NodeLocalIP, "kube-dns ClusterIP " + lab.ClusterDNSIP, "default-deny allows the CoreDNS pods by selector"} {
		if !strings.Contains(ev, want) {
			t.Errorf("DNS004 evidence lacks %q:\n%s", want, ev)
		}
	}
	fix := strings.Join(f.Remediation, "\n")
	if !strings.Contains(fix, "cidr: "+lab.NodeLocalIP+"/32") || !strings.Contains(fix, "cidr: "+lab.ClusterDNSIP+"/32") {
		t.Errorf("DNS004 fix does not allow both addresses as ipBlocks:\n%s", fix)
	}

	// Apply the printed fix: the finding goes away.
	m := regexp.MustCompile(`(?s)<<'EOF'\n(.*)EOF`).FindStringSubmatch(fix)
	if m == nil {
		t.Fatalf("no manifest in the fix:\n%s", fix)
	}
	var allow networkingv1.NetworkPolicy
	if err := yamlToObject(m[1], &allow); err != nil {
		t.Fatalf("the printed fix is not a NetworkPolicy: %v\n%s", err, m[1])
	}
	if _, err := l.Client().NetworkingV1().NetworkPolicies(ns).Create(ctx, &allow, metav1.CreateOptions{}); err != nil {
		t.Fatalf("apply the printed fix: %v", err)
	}
	if got := diagnose(); len(got) != 0 {
		t.Errorf("after the fix: DNS004 still reported: %+v", got)
	}
}

// TestDNSNetworkPolicyNamespaceLabels: a policy selects kube-system by a
// label of its own. Live, the collected namespace labels match it: the
// evidence says the rule allows the CoreDNS pods, NodeLocal DNS being why it
// still blocks, with no assumption. From a bundle without namespaces the
// label cannot be matched and the evidence says so (the unit cases in
// internal/analyze/dns cover the warning this gives without NodeLocal DNS).
func TestDNSNetworkPolicyNamespaceLabels(t *testing.T) {
	l := requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := uniqueName("e2e-dns-nslabel-")
	label := "e2e.netdoctor.io/" + ns
	patch := func(value any) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{label: value}}})
		if _, err := l.Client().CoreV1().Namespaces().Patch(context.Background(), metav1.NamespaceSystem, "application/merge-patch+json", b, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patch("dns")
	t.Cleanup(func() { patch(nil) })
	webNamespace(t, l, ns)
	np := dnsOnlyToCoreDNS(ns, "dns-by-team-label", map[string]string{label: "dns"}, networkingv1.PolicyTypeEgress)
	if _, err := l.Client().NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	theFinding := func(args ...string) finding.Finding {
		t.Helper()
		res := runNetdoctor(t, 2*time.Minute, append([]string{"diagnose", "-o", "json", "--fail-on", "none"}, args...)...)
		if res.ExitCode != 0 {
			t.Fatalf("diagnose %v: exit %d: %s", args, res.ExitCode, res.Stderr)
		}
		var rep finding.Report
		if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
			t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
		}
		var got []finding.Finding
		for _, f := range dnsFindings(rep.Findings, "DNS004") {
			if hasSubject(f, "NetworkPolicy", ns, np.Name) {
				got = append(got, f)
			}
		}
		if len(got) != 1 {
			t.Fatalf("diagnose %v: DNS004 for %s: got %d findings, want 1", args, ns, len(got))
		}
		return got[0]
	}

	live := theFinding()
	ev := strings.Join(live.Evidence, "\n")
	if !strings.Contains(ev, np.Name+" allows the CoreDNS pods by selector") {
		t.Errorf("live: the namespace label was not matched; evidence:\n%s", ev)
	}
	if strings.Contains(ev, "assumption:") || live.Severity != finding.Critical {
		t.Errorf("live: %s with assumptions, though the namespaces were collected:\n%s", live.Severity, ev)
	}

	bundle := filepath.Join(t.TempDir(), "bundle")
	if res := runNetdoctor(t, 2*time.Minute, "collect", "-o", bundle); res.ExitCode != 0 {
		t.Fatalf("collect: exit %d: %s", res.ExitCode, res.Stderr)
	}
	if err := os.Remove(filepath.Join(bundle, "resources", "namespaces.jsonl")); err != nil {
		t.Fatalf("the bundle has no namespaces: %v", err)
	}
	// NodeLocal DNS blocks whatever the labels say, so the finding stays
	// critical; only the selector can no longer be said to match.
	old := theFinding("--bundle", bundle)
	ev = strings.Join(old.Evidence, "\n")
	if strings.Contains(ev, np.Name+" allows the CoreDNS pods by selector") || old.Severity != finding.Critical ||
		!strings.Contains(ev, "whether a rule allows the CoreDNS pods by selector is unknown (namespace kube-system's labels are unknown") {
		t.Errorf("bundle without namespaces: %s; want critical, saying the selector could not be matched:\n%s", old.Severity, ev)
	}
}

// BenchmarkDNSProbeVersusDNSPerf compares the probe engine's query rate with
// dnsperf's, both inside the same lab pod and against the same CoreDNS pod,
// in the same run. The engine records every query's latency in its
// histogram. b.N is ignored beyond 1: each side sends a fixed number of
// queries (NETDOCTOR_BENCH_QUERIES, default 200000); the engine keeps
// NETDOCTOR_BENCH_CONCURRENCY lookups outstanding (default 64; dnsperf has
// -q 256 here) on one socket per worker, as dnsperf keeps its sockets.
func BenchmarkDNSProbeVersusDNSPerf(b *testing.B) {
	l := requireLab(b)
	lockFaults(b)
	netdoctorBin(b) // built and installed in the lab
	client := clientPod(b, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pods, err := l.Client().CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil || len(pods.Items) == 0 {
		b.Fatalf("coredns pods: %v", err)
	}
	server := pods.Items[0].Status.PodIP
	queries := 200000
	if v, err := strconv.Atoi(os.Getenv("NETDOCTOR_BENCH_QUERIES")); err == nil && v > 0 {
		queries = v
	}
	concurrency := 64
	if v, err := strconv.Atoi(os.Getenv("NETDOCTOR_BENCH_CONCURRENCY")); err == nil && v > 0 {
		concurrency = v
	}
	const name = "kubernetes.default.svc.cluster.local"

	// dnsperf: one name, A, as many outstanding queries as it likes.
	data := filepath.Join(b.TempDir(), "queries.txt")
	if err := os.WriteFile(data, []byte(name+" A\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := l.Exec(ctx, client, "dnsperf", "-s", server, "-d", data, "-n", strconv.Itoa(queries), "-c", "4", "-q", "256", "-t", "2")
	if err != nil {
		b.Fatalf("dnsperf: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Queries per second:\s+([\d.]+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("dnsperf output has no QPS:\n%s", out)
	}
	perfQPS, _ := strconv.ParseFloat(string(m[1]), 64)

	// The engine, through `netdoctor agent`, in the same pod.
	spec := dnsprobe.Spec{ResolvConf: "-", Hops: []dnsprobe.Hop{{Name: dnsprobe.HopCoreDNS, Addr: server}},
		Names: []dnsprobe.Name{{Name: name, Kind: dnsprobe.KindCluster}}, Types: []string{"A"}, Transports: []string{"udp"},
		Count: queries, RatePerHop: -1, Concurrency: concurrency, TimeoutMS: 2000, MaxDurationMS: 300000, ReuseSocket: true}
	req, _ := json.Marshal(map[string]any{"kind": dnsprobe.Kind, "spec": spec})
	b.ResetTimer()
	out, err = l.Exec(ctx, client, l.Bin("netdoctor"), "agent", "--request", string(req))
	b.StopTimer()
	if err != nil {
		b.Fatalf("netdoctor agent: %v\n%.2000s", err, out)
	}
	var resp struct {
		Result dnsprobe.Result `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(lastLine(out), &resp); err != nil || resp.Error != "" {
		b.Fatalf("agent response: %v %s\n%.2000s", err, resp.Error, out)
	}
	tot := resp.Result.Hops[0].Totals("")
	qps := float64(tot.Sent) / (resp.Result.DurationMS / 1000)
	b.ReportMetric(qps, "probe-qps")
	b.ReportMetric(perfQPS, "dnsperf-qps")
	b.ReportMetric(100*qps/perfQPS, "%-of-dnsperf")
	b.ReportMetric(100*float64(tot.OK)/float64(tot.Sent), "%ok")
	b.ReportMetric(tot.Latency.P99MS, "p99-ms")
	fmt.Printf("dns probe: %d queries, %.0f/s, %d ok, p50 %.2fms p99 %.2fms max %.2fms; dnsperf: %.0f/s\n",
		tot.Sent, qps, tot.OK, tot.Latency.P50MS, tot.Latency.P99MS, tot.Latency.MaxMS, perfQPS)
}

func yamlToObject(doc string, into any) error { return yaml.UnmarshalStrict([]byte(doc), into) }

func lastLine(b []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return []byte(lines[len(lines)-1])
}
