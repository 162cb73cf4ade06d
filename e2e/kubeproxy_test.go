//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/analyze/kubeproxy"
	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/trace"
)

// These tests check the tracer against the kernel: the lab's real
// kube-proxy writes the rules, the test traces a packet through the node's
// iptables-save, then sends the same packet and compares the trace's
// verdict and DNAT destinations with what happens to it (which pod
// answers, or whether the connection is refused or dropped).

// kpxService creates a Service in default and deletes it at the end.
func kpxService(t *testing.T, l *lab.Lab, svc *corev1.Service) *corev1.Service {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	created, err := l.Client().CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", svc.Name, err)
	}
	t.Cleanup(func() {
		_ = l.Client().CoreV1().Services("default").Delete(context.Background(), svc.Name, metav1.DeleteOptions{})
	})
	return created
}

// nodeTrace traces p through node i's current iptables-save.
func nodeTrace(ctx context.Context, l *lab.Lab, i int, p trace.Packet) (trace.Result, error) {
	n := l.Nodes()[i]
	out, err := l.Exec(ctx, n.Name, "iptables-save")
	if err != nil {
		return trace.Result{}, fmt.Errorf("iptables-save on %s: %w: %s", n.Name, err, out)
	}
	d, err := iptables.Parse(n.Name+"/iptables-save", out)
	if err != nil {
		return trace.Result{}, err
	}
	tr, err := trace.New(d, []netip.Addr{netip.MustParseAddr(n.IP)})
	if err != nil {
		return trace.Result{}, err
	}
	return tr.Trace(p), nil
}

// destSet renders the DNAT destinations as sorted "ip:port".
func destSet(r trace.Result) string {
	var s []string
	for _, d := range r.Destinations {
		s = append(s, fmt.Sprintf("%s:%d", d.IP, d.Port))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// traceUntil traces until the rules show want (kube-proxy syncs within a
// second or two of a change) and returns the result.
func traceUntil(t *testing.T, l *lab.Lab, node int, p trace.Packet, want func(trace.Result) error) trace.Result {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	var res trace.Result
	eventually(t, 30*time.Second, fmt.Sprintf("trace of %s on node %d", p, node), func() error {
		var err error
		if res, err = nodeTrace(ctx, l, node, p); err != nil {
			return err
		}
		return want(res)
	})
	if len(res.Warnings) > 0 {
		t.Logf("trace warnings: %q", res.Warnings)
	}
	return res
}

// answerIP fetches http://addr/ from a lab namespace and returns the IP of
// the pod that answered ("pod=ns/name node=N ip=IP").
func answerIP(ctx context.Context, l *lab.Lab, from, addr string) (string, error) {
	code, body, err := l.HTTPGet(ctx, from, "http://"+addr+"/", 3*time.Second)
	if err != nil {
		return "", err
	}
	if code != 200 {
		return "", fmt.Errorf("HTTP %d: %q", code, body)
	}
	for _, f := range strings.Fields(body) {
		if ip, ok := strings.CutPrefix(f, "ip="); ok {
			return ip, nil
		}
	}
	return "", fmt.Errorf("no ip= in %q", body)
}

// backends creates n server pods on the given nodes with one label and
// returns their IPs.
func backends(t *testing.T, l *lab.Lab, app string, nodes ...int) []string {
	t.Helper()
	var ips []string
	for k, i := range nodes {
		p := createPod(t, serverPod(fmt.Sprintf("%s-%d", app, k), l.Nodes()[i].Name, map[string]string{"app": app}, 8080))
		ips = append(ips, p.Status.PodIP)
	}
	return ips
}

func want(ips []string, port int) string {
	var s []string
	for _, ip := range ips {
		s = append(s, fmt.Sprintf("%s:%d", ip, port))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func httpPort(svc string) []corev1.ServicePort {
	return []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}
}

// TestKubeProxyTraceClusterIP: two endpoints on two nodes; the trace gives
// both with probability 0.5, and the pods that answer a pod's requests are
// exactly those.
func TestKubeProxyTraceClusterIP(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	name := uniqueName("kpx-cip-")
	ips := backends(t, l, name, 0, 1)
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: httpPort(name)}})
	client := clientPod(t, 1)
	clientIP := podIP(t, l, client)
	p := trace.Packet{Src: clientIP, Dst: netip.MustParseAddr(svc.Spec.ClusterIP), Proto: "tcp", DstPort: 80}
	res := traceUntil(t, l, 1, p, func(r trace.Result) error {
		if got := destSet(r); r.Verdict != trace.DNAT || got != want(ips, 8080) {
			return fmt.Errorf("verdict %s, destinations %s; want DNAT to %s", r.Verdict, got, want(ips, 8080))
		}
		return nil
	})
	for _, d := range res.Destinations {
		if d.Probability != 0.5 {
			t.Errorf("destination %s:%d probability %v, want 0.5", d.IP, d.Port, d.Probability)
		}
	}
	if res.Masquerade {
		t.Errorf("masquerade: got true for a pod client, want false")
	}
	// The kernel: 24 new connections, each DNATed to a destination of the trace.
	ctx := ctxT(t, time.Minute)
	seen := map[string]int{}
	for i := 0; i < 24; i++ {
		ip, err := answerIP(ctx, l, client, svc.Spec.ClusterIP+":80")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		seen[ip]++
	}
	for ip := range seen {
		if !strings.Contains(destSet(res), ip+":8080") {
			t.Errorf("pod %s answered, but the trace's destinations are %s", ip, destSet(res))
		}
	}
	if len(seen) != 2 {
		t.Errorf("answers came from %v; with probability 0.5 each both endpoints should answer 24 requests", seen)
	}
}

func podIP(t *testing.T, l *lab.Lab, nsName string) netip.Addr {
	t.Helper()
	ns, name, _ := strings.Cut(nsName, "/")
	p, err := l.Client().CoreV1().Pods(ns).Get(ctxT(t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return netip.MustParseAddr(p.Status.PodIP)
}

// edgeIP is the address of the lab's VNet bridge (the edge namespace): a
// client outside the cluster's pod CIDR, as a load balancer or a VM in the
// VNet would be.
const edgeIP = "10.224.0.1"

// TestKubeProxyTraceNodePort: an external client to a NodePort of a node
// without the endpoint is DNATed (and masqueraded) to the endpoint on the
// other node.
func TestKubeProxyTraceNodePort(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	name := uniqueName("kpx-np-")
	ips := backends(t, l, name, 0)
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": name}, Ports: httpPort(name)}})
	np := int(svc.Spec.Ports[0].NodePort)
	node1 := l.Nodes()[1]
	p := trace.Packet{Src: netip.MustParseAddr(edgeIP), Dst: netip.MustParseAddr(node1.IP), Proto: "tcp", DstPort: np}
	res := traceUntil(t, l, 1, p, func(r trace.Result) error {
		if got := destSet(r); r.Verdict != trace.DNAT || got != want(ips, 8080) {
			return fmt.Errorf("verdict %s, destinations %s; want DNAT to %s", r.Verdict, got, want(ips, 8080))
		}
		return nil
	})
	if !res.Masquerade {
		t.Errorf("masquerade: got false, want true (externalTrafficPolicy Cluster)")
	}
	ctx := ctxT(t, 30*time.Second)
	ip, err := answerIP(ctx, l, "edge", fmt.Sprintf("%s:%d", node1.IP, np))
	if err != nil {
		t.Fatal(err)
	}
	if ip != ips[0] {
		t.Errorf("answered by %s, trace says %s", ip, destSet(res))
	}
}

// TestKubeProxyTraceETPLocal: externalTrafficPolicy Local with the only
// endpoint on node 0. Through node 1 the trace says DROP and the
// connection times out; through node 0 it says DNAT without masquerading
// and the pod answers.
func TestKubeProxyTraceETPLocal(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	name := uniqueName("kpx-etp-")
	ips := backends(t, l, name, 0)
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"app": name}, Ports: httpPort(name)}})
	np := int(svc.Spec.Ports[0].NodePort)
	n0, n1 := l.Nodes()[0], l.Nodes()[1]

	drop := traceUntil(t, l, 1, trace.Packet{Src: netip.MustParseAddr(edgeIP), Dst: netip.MustParseAddr(n1.IP), Proto: "tcp", DstPort: np},
		func(r trace.Result) error {
			if r.Verdict != trace.Drop {
				return fmt.Errorf("verdict %s, want DROP", r.Verdict)
			}
			return nil
		})
	if drop.Decision == nil || !strings.Contains(drop.Decision.Comment, "has no local endpoints") {
		t.Errorf("DROP decided by %+v, want kube-proxy's \"has no local endpoints\" rule", drop.Decision)
	}
	ctx := ctxT(t, 30*time.Second)
	err := tcpWorks(ctx, l, "edge", fmt.Sprintf("%s:%d", n1.IP, np), 2*time.Second)
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect through node 1: got %v, want a timeout (DROP)", err)
	}

	ok := traceUntil(t, l, 0, trace.Packet{Src: netip.MustParseAddr(edgeIP), Dst: netip.MustParseAddr(n0.IP), Proto: "tcp", DstPort: np},
		func(r trace.Result) error {
			if got := destSet(r); r.Verdict != trace.DNAT || got != want(ips, 8080) {
				return fmt.Errorf("verdict %s, destinations %s; want DNAT to %s", r.Verdict, got, want(ips, 8080))
			}
			return nil
		})
	if ok.Masquerade {
		t.Errorf("masquerade through node 0: got true, want false (Local keeps the client IP)")
	}
	ip, err := answerIP(ctx, l, "edge", fmt.Sprintf("%s:%d", n0.IP, np))
	if err != nil || ip != ips[0] {
		t.Errorf("through node 0: answered by %q (%v), want %s", ip, err, ips[0])
	}
}

// TestKubeProxyTraceSessionAffinity: ClientIP affinity; the trace reports
// it with kube-proxy's default timeout, and a client's connections all go
// to one endpoint.
func TestKubeProxyTraceSessionAffinity(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	name := uniqueName("kpx-aff-")
	ips := backends(t, l, name, 0, 1)
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: httpPort(name), SessionAffinity: corev1.ServiceAffinityClientIP}})
	client := clientPod(t, 0)
	p := trace.Packet{Src: podIP(t, l, client), Dst: netip.MustParseAddr(svc.Spec.ClusterIP), Proto: "tcp", DstPort: 80}
	res := traceUntil(t, l, 0, p, func(r trace.Result) error {
		if got := destSet(r); r.Verdict != trace.DNAT || got != want(ips, 8080) {
			return fmt.Errorf("verdict %s, destinations %s; want DNAT to %s", r.Verdict, got, want(ips, 8080))
		}
		return nil
	})
	if len(res.SessionAffinity) == 0 || res.SessionAffinity[0].TimeoutSeconds != 10800 {
		t.Errorf("session affinity: got %+v, want ClientIP with 10800s", res.SessionAffinity)
	}
	ctx := ctxT(t, time.Minute)
	seen := map[string]int{}
	for i := 0; i < 12; i++ {
		ip, err := answerIP(ctx, l, client, svc.Spec.ClusterIP+":80")
		if err != nil {
			t.Fatal(err)
		}
		seen[ip]++
	}
	if len(seen) != 1 {
		t.Errorf("with ClientIP affinity one client reached %v, want one endpoint", seen)
	}
	for ip := range seen {
		if !strings.Contains(destSet(res), ip+":8080") {
			t.Errorf("pod %s answered, not in the trace's %s", ip, destSet(res))
		}
	}
}

// TestKubeProxyTraceNoEndpoints: a Service whose selector matches no pod;
// the trace says REJECT and the kernel refuses the connection at once.
func TestKubeProxyTraceNoEndpoints(t *testing.T) {
	l := requireLab(t)
	name := uniqueName("kpx-none-")
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: httpPort(name)}})
	client := clientPod(t, 0)
	p := trace.Packet{Src: podIP(t, l, client), Dst: netip.MustParseAddr(svc.Spec.ClusterIP), Proto: "tcp", DstPort: 80}
	res := traceUntil(t, l, 0, p, func(r trace.Result) error {
		if r.Verdict != trace.Reject {
			return fmt.Errorf("verdict %s, want REJECT", r.Verdict)
		}
		return nil
	})
	if res.Decision == nil || !strings.Contains(res.Decision.Comment, "has no endpoints") {
		t.Errorf("REJECT decided by %+v, want kube-proxy's \"has no endpoints\" rule", res.Decision)
	}
	ctx := ctxT(t, 30*time.Second)
	start := time.Now()
	err := tcpWorks(ctx, l, client, svc.Spec.ClusterIP+":80", 3*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect: got %v, want connection refused", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("refusal took %s, want immediate", time.Since(start))
	}
}

// TestKubeProxyTraceServiceLive runs `netdoctor trace service` against the
// lab (node agent for the rules) and checks it agrees with the kernel.
func TestKubeProxyTraceServiceLive(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	name := uniqueName("kpx-live-")
	ips := backends(t, l, name, 0, 1)
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: httpPort(name)}})
	node := l.Nodes()[1].Name
	// wait until the node's rules have both endpoints
	traceUntil(t, l, 1, trace.Packet{Src: netip.MustParseAddr(l.Nodes()[1].IP), Dst: netip.MustParseAddr(svc.Spec.ClusterIP), Proto: "tcp", DstPort: 80, Local: true},
		func(r trace.Result) error {
			if got := destSet(r); got != want(ips, 8080) {
				return fmt.Errorf("destinations %s, want %s", got, want(ips, 8080))
			}
			return nil
		})
	res := runNetdoctor(t, 3*time.Minute, "trace", "service", name, "-n", "default", "--node", node, "-o", "json")
	if res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	var out struct {
		Node      string `json:"node"`
		Endpoints []struct {
			IP          string  `json:"ip"`
			Port        int     `json:"port"`
			Probability float64 `json:"probability"`
			Pod         string  `json:"pod"`
			Node        string  `json:"node"`
		} `json:"endpoints"`
		Result trace.Result `json:"result"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res.Stdout)
	}
	if out.Node != node || out.Result.Verdict != trace.DNAT || destSet(out.Result) != want(ips, 8080) {
		t.Errorf("got node %s verdict %s destinations %s; want %s DNAT %s", out.Node, out.Result.Verdict, destSet(out.Result), node, want(ips, 8080))
	}
	for _, e := range out.Endpoints {
		if !strings.HasPrefix(e.Pod, "default/"+name+"-") || e.Node == "" {
			t.Errorf("endpoint %+v: want its pod and node", e)
		}
	}
	text := runNetdoctor(t, 3*time.Minute, "trace", "service", name, "-n", "default", "--node", node)
	for _, w := range []string{"KUBE-SERVICES", "KUBE-SVC-", "KUBE-SEP-", "DNAT", "pod default/" + name + "-0 on node " + l.Nodes()[0].Name} {
		if !strings.Contains(text.Stdout, w) {
			t.Errorf("text output lacks %q:\n%s", w, text.Stdout)
		}
	}
}

// TestKubeProxyDiagnose: diagnose --node-data on the lab names the Service
// without endpoints (KPX001, with the REJECT rule) and the
// externalTrafficPolicy Local Service whose other nodes drop (KPX002), and
// reports kube-proxy's mode from the nodes.
func TestKubeProxyDiagnose(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	none := uniqueName("kpx-dx-none-")
	kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: none},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": none}, Ports: httpPort(none)}})
	etp := uniqueName("kpx-dx-etp-")
	backends(t, l, etp, 0)
	kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: etp},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"app": etp}, Ports: httpPort(etp)}})
	// let every node's kube-proxy sync both
	for i := range l.Nodes() {
		eventually(t, 30*time.Second, "kube-proxy sync", func() error {
			out, err := l.Exec(ctxT(t, 10*time.Second), l.Nodes()[i].Name, "iptables-save")
			if err != nil {
				return err
			}
			for _, w := range []string{"default/" + none + ":http has no endpoints", "default/" + etp + ":http"} {
				if !strings.Contains(string(out), w) {
					return fmt.Errorf("node %d: no %q yet", i, w)
				}
			}
			return nil
		})
	}
	rep := diagnoseJSON(t, l)
	var got001, got002 bool
	for _, f := range rep.Findings {
		if len(f.Subjects) == 0 {
			continue
		}
		switch {
		case f.Code == "KPX001" && f.Subjects[0].Name == none:
			got001 = true
			if !strings.Contains(strings.Join(f.Evidence, "\n"), "-j REJECT") {
				t.Errorf("KPX001 evidence does not quote the REJECT rule: %q", f.Evidence)
			}
		case strings.HasPrefix(f.Code, "SVC") && f.Subjects[0].Name == none:
			// diagnose folds KPX001 into the Service finding that explains
			// it, keeping the REJECT rule as evidence.
			for _, e := range f.Evidence {
				if strings.HasPrefix(e, "KPX001: ") && strings.Contains(e, "-j REJECT") {
					got001 = true
				}
			}
		case f.Code == "KPX002" && f.Subjects[0].Name == etp:
			got002 = true
			ev := strings.Join(f.Evidence, "\n")
			if !strings.Contains(ev, "node "+l.Nodes()[1].Name+":") || !strings.Contains(ev, "nodes with a ready endpoint: "+l.Nodes()[0].Name) {
				t.Errorf("KPX002 evidence: got %q, want node %s dropping and %s with the endpoint", f.Evidence, l.Nodes()[1].Name, l.Nodes()[0].Name)
			}
		case f.Code == "KPX003":
			t.Logf("KPX003 (kube-proxy out of sync, or a change during collection): %s %q", f.Title, f.Evidence)
		}
	}
	if !got001 || !got002 {
		t.Errorf("KPX001 for %s: %v, KPX002 for %s: %v; findings: %+v", none, got001, etp, got002, rep.Findings)
	}
	if c, ok := checkStatus(rep, "kube-proxy/mode"); !ok || c.Status != "passed" {
		t.Errorf("kube-proxy/mode check: %+v", c)
	}
}

// TestKubeProxyTraceLoadBalancer: a LoadBalancer Service (its ingress IP
// set as the cloud would). A pod calling the load balancer IP is
// DNATed on its own node; once loadBalancerSourceRanges leave the pod out,
// the trace says DROP (KPX004) and the connection times out.
func TestKubeProxyTraceLoadBalancer(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	name := uniqueName("kpx-lb-")
	ips := backends(t, l, name, 0)
	svc := kpxService(t, l, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name}, Ports: httpPort(name)}})
	const lbIP = "203.0.113.121"
	ctx := ctxT(t, time.Minute)
	eventually(t, 20*time.Second, "set the load balancer IP", func() error {
		cur, err := l.Client().CoreV1().Services("default").Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP}}
		_, err = l.Client().CoreV1().Services("default").UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	client := clientPod(t, 1)
	p := trace.Packet{Src: podIP(t, l, client), Dst: netip.MustParseAddr(lbIP), Proto: "tcp", DstPort: 80}
	res := traceUntil(t, l, 1, p, func(r trace.Result) error {
		if got := destSet(r); r.Verdict != trace.DNAT || got != want(ips, 8080) {
			return fmt.Errorf("verdict %s, destinations %s; want DNAT to %s", r.Verdict, got, want(ips, 8080))
		}
		return nil
	})
	ip, err := answerIP(ctx, l, client, lbIP+":80")
	if err != nil || ip != ips[0] {
		t.Fatalf("pod to the load balancer IP: answered by %q (%v), trace says %s", ip, err, destSet(res))
	}

	eventually(t, 20*time.Second, "set loadBalancerSourceRanges", func() error {
		cur, err := l.Client().CoreV1().Services("default").Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.LoadBalancerSourceRanges = []string{"198.51.100.0/24"}
		_, err = l.Client().CoreV1().Services("default").Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	drop := traceUntil(t, l, 1, p, func(r trace.Result) error {
		if r.Verdict != trace.Drop {
			return fmt.Errorf("verdict %s, want DROP", r.Verdict)
		}
		return nil
	})
	if got := kubeproxy.Classify(drop); got != "KPX004" {
		t.Errorf("classified %q, want KPX004 (decision %+v)", got, drop.Decision)
	}
	err = tcpWorks(ctx, l, client, lbIP+":80", 2*time.Second)
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect from a pod outside the source ranges: got %v, want a timeout (DROP)", err)
	}

	// diagnose --client-ip checks clients outside the cluster too: the one
	// outside the ranges is dropped, the one inside is not named.
	rep := diagnoseJSON(t, l, "--client-ip", "198.51.100.7", "--client-ip", "192.0.2.9")
	f := findingFor(rep.Findings, "KPX004", "default", svc.Name)
	if f == nil {
		t.Fatalf("no KPX004 for Service default/%s; findings: %v", svc.Name, keyFindings(rep.Findings))
	}
	ev := strings.Join(f.Evidence, "\n")
	if !strings.Contains(ev, "from client 192.0.2.9 is DROPped") || strings.Contains(ev, "198.51.100.7 is DROPped") {
		t.Errorf("KPX004 evidence; want client 192.0.2.9 dropped and 198.51.100.7 not:\n%s", ev)
	}
}
