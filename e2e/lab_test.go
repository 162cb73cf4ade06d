//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/lab"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLabNodesReady(t *testing.T) {
	l := requireLab(t)
	ctx := ctxT(t, time.Minute)
	nodes, err := l.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(nodes.Items), len(l.Nodes()); got != want {
		t.Fatalf("got %d nodes, want %d", got, want)
	}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			t.Errorf("node %s is not Ready: %+v", n.Name, n.Status.Conditions)
		}
		if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
			t.Errorf("node %s kubelet port = %d, want 10250", n.Name, n.Status.DaemonEndpoints.KubeletEndpoint.Port)
		}
	}
}

func TestLabKubeDNSEndpointSlicesListBothCoreDNSPods(t *testing.T) {
	l := requireLab(t)
	ctx := ctxT(t, time.Minute)
	pods, err := l.Client().CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	var podIPs []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			podIPs = append(podIPs, p.Status.PodIP)
		}
	}
	if len(podIPs) != lab.CoreDNSReplicas {
		t.Fatalf("got %d running CoreDNS pods %v, want %d", len(podIPs), podIPs, lab.CoreDNSReplicas)
	}
	eps, err := l.KubeDNSEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range podIPs {
		found := false
		for _, e := range eps {
			found = found || e == ip
		}
		if !found {
			t.Errorf("kube-dns EndpointSlices %v do not list CoreDNS pod %s", eps, ip)
		}
	}
}

// TestLabPodResolvesThroughNodeLocalDNS: a pod's resolv.conf points at the
// kube-dns IP, which NodeLocal DNS answers on the node (NOTRACK rules); both
// a cluster name and an upstream name resolve, and 169.254.20.10 answers.
func TestLabPodResolvesThroughNodeLocalDNS(t *testing.T) {
	l := requireLab(t)
	ctx := ctxT(t, 2*time.Minute)
	client := clientPod(t, len(l.Nodes())-1)
	node := l.Nodes()[len(l.Nodes())-1]
	raw, err := l.Exec(ctx, node.Name, "iptables-save", "-t", "raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{lab.NodeLocalIP, lab.ClusterDNSIP} {
		if !strings.Contains(string(raw), "-d "+ip+"/32 -p udp -m udp --dport 53 -j NOTRACK") {
			t.Errorf("node %s raw table lacks node-cache's NOTRACK rule for %s:\n%s", node.Name, ip, raw)
		}
	}
	for _, server := range []string{lab.ClusterDNSIP, lab.NodeLocalIP} {
		for _, name := range []string{"kubernetes.default.svc.cluster.local", uniqueName("n") + ".dyn.example.com"} {
			eventually(t, 15*time.Second, name+" via "+server, func() error {
				m, err := l.DNSQuery(ctx, client, server, name, dns.TypeA, false, 3*time.Second)
				if err != nil {
					return err
				}
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
					return fmt.Errorf("rcode %s, %d answers", dns.RcodeToString[m.Rcode], len(m.Answer))
				}
				return nil
			})
		}
	}
	// The system resolver of the pod (glibc, the pod's resolv.conf).
	if _, err := os.Stat(l.Bin("resolve-glibc")); err == nil {
		out, err := l.Exec(ctx, client, l.Bin("resolve-glibc"), "kubernetes.default.svc.cluster.local")
		if err != nil || !strings.Contains(string(out), lab.KubernetesIP) {
			t.Errorf("getaddrinfo(kubernetes.default.svc.cluster.local) in pod: %v: %s", err, out)
		}
		out, err = l.Exec(ctx, client, l.Bin("resolve-glibc"), "www.example.com")
		if err != nil || !strings.Contains(string(out), lab.WebIP) {
			t.Errorf("getaddrinfo(www.example.com) in pod: %v: %s", err, out)
		}
	}
}

// TestLabClusterIPAcrossNodes: a ClusterIP connection from a pod on one node
// reaches a backend on another through kube-proxy's iptables rules.
func TestLabClusterIPAcrossNodes(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs two nodes")
	}
	ctx := ctxT(t, 2*time.Minute)
	backendNode := l.Nodes()[0].Name
	name := uniqueName("e2e-cip-")
	createPod(t, serverPod(name, backendNode, map[string]string{"app": name}, 8080))
	svc, err := l.Client().CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = l.Client().CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	client := clientPod(t, 1)
	eventually(t, 30*time.Second, "ClusterIP answers from the other node", func() error {
		code, body, err := l.HTTPGet(ctx, client, "http://"+svc.Spec.ClusterIP+"/", 3*time.Second)
		if err != nil {
			return err
		}
		if code != 200 || !strings.Contains(body, "node="+backendNode) {
			return fmt.Errorf("got %d %q, want 200 from a pod on %s", code, body, backendNode)
		}
		return nil
	})
	rules, err := l.Exec(ctx, l.Nodes()[1].Name, "iptables-save", "-t", "nat")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), "default/"+name+" cluster IP") {
		t.Errorf("node %s has no KUBE-SERVICES rule for default/%s", l.Nodes()[1].Name, name)
	}
}

// TestLabNetdoctorPodLog: a pod of a netdoctor image runs the netdoctor
// binary, and its output is read back through the API server's pods/log.
func TestLabNetdoctorPodLog(t *testing.T) {
	l := requireLab(t)
	netdoctorBin(t)
	ctx := ctxT(t, time.Minute)
	name := uniqueName("e2e-nd-")
	p := createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "netdoctor", Image: "ghcr.io/netdoctor/netdoctor:e2e", Args: []string{"--help"}}}},
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("netdoctor --help pod phase %s, want Succeeded: %+v", p.Status.Phase, p.Status.ContainerStatuses)
	}
	b, err := l.Client().CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{Container: "netdoctor"}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(string(b)), "netdoctor") {
		t.Errorf("pod log does not look like netdoctor --help:\n%s", b)
	}
}

// dnsFails reports whether a query gets no usable answer (timeout, SERVFAIL,
// REFUSED).
func dnsFails(ctx context.Context, l *lab.Lab, from, server, name string) error {
	m, err := l.DNSQuery(ctx, from, server, name, dns.TypeA, false, 2*time.Second)
	if err != nil {
		return nil
	}
	if m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused {
		return nil
	}
	return fmt.Errorf("%s still answered %s with %d records", name, dns.RcodeToString[m.Rcode], len(m.Answer))
}

func dnsWorks(ctx context.Context, l *lab.Lab, from, server, name string, want int) error {
	m, err := l.DNSQuery(ctx, from, server, name, dns.TypeA, false, 2*time.Second)
	if err != nil {
		return err
	}
	if m.Rcode != want {
		return fmt.Errorf("%s: rcode %s, want %s", name, dns.RcodeToString[m.Rcode], dns.RcodeToString[want])
	}
	return nil
}

func tcpWorks(ctx context.Context, l *lab.Lab, from, addr string, timeout time.Duration) error {
	d, err := l.Dialer(ctx, from)
	if err != nil {
		return err
	}
	d.Dialer.Timeout = timeout
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func readAzure(t *testing.T, l *lab.Lab, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.AzureDir(), file))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

// TestLabFaults injects each fault, checks its symptom, clears it and
// checks health comes back. Subtests run one at a time (faults are global).
func TestLabFaults(t *testing.T) {
	l := requireLab(t)
	last := len(l.Nodes()) - 1
	web := net.JoinHostPort(lab.WebIP, "80")

	t.Run("upstream-dns-blocked", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		c := clientPod(t, 0)
		withFault(t, "upstream-dns-blocked", lab.FaultOptions{})
		eventually(t, 10*time.Second, "cluster names still resolve", func() error {
			return dnsWorks(ctx, l, c, lab.ClusterDNSIP, "kubernetes.default.svc.cluster.local", dns.RcodeSuccess)
		})
		if err := dnsFails(ctx, l, c, lab.ClusterDNSIP, uniqueName("b")+".dyn.example.com"); err != nil {
			t.Errorf("external name should fail: %v", err)
		}
		if err := l.ClearFault(ctx, "upstream-dns-blocked"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "external names resolve again", func() error {
			return dnsWorks(ctx, l, c, lab.ClusterDNSIP, uniqueName("c")+".dyn.example.com", dns.RcodeSuccess)
		})
	})

	t.Run("coredns-down", func(t *testing.T) {
		ctx := ctxT(t, 3*time.Minute)
		c := clientPod(t, 0)
		withFault(t, "coredns-down", lab.FaultOptions{})
		if eps, _ := l.KubeDNSEndpoints(ctx); len(eps) != 0 {
			t.Errorf("kube-dns endpoints %v, want none", eps)
		}
		// A name no cache has seen: NXDOMAIN when healthy, no answer now.
		eventually(t, 20*time.Second, "cluster lookups fail", func() error {
			return dnsFails(ctx, l, c, lab.ClusterDNSIP, uniqueName("x")+".default.svc.cluster.local")
		})
		if err := l.ClearFault(ctx, "coredns-down"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "cluster lookups answer again", func() error {
			return dnsWorks(ctx, l, c, lab.ClusterDNSIP, uniqueName("y")+".default.svc.cluster.local", dns.RcodeNameError)
		})
	})

	t.Run("kubenet-route-missing", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		target := l.Nodes()[last]
		backend := createPod(t, serverPod(uniqueName("e2e-route-"), target.Name, nil, 8080))
		from := clientPod(t, 0)
		addr := net.JoinHostPort(backend.Status.PodIP, "8080")
		eventually(t, 20*time.Second, "backend reachable before the fault", func() error { return tcpWorks(ctx, l, from, addr, 2*time.Second) })
		fs := withFault(t, "kubenet-route-missing", lab.FaultOptions{Node: target.Name})
		if fs.Target != target.Name {
			t.Errorf("fault hit %s, want %s", fs.Target, target.Name)
		}
		if err := tcpWorks(ctx, l, from, addr, 2*time.Second); err == nil {
			t.Errorf("connection to a pod on %s should fail without its route", target.Name)
		}
		rt := readAzure(t, l, "route-table.json")
		if strings.Contains(fmt.Sprint(rt["routes"]), target.PodCIDR) {
			t.Errorf("route-table.json still lists %s", target.PodCIDR)
		}
		if err := l.ClearFault(ctx, "kubenet-route-missing"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "backend reachable again", func() error { return tcpWorks(ctx, l, from, addr, 2*time.Second) })
	})

	t.Run("dns-loss", func(t *testing.T) {
		ctx := ctxT(t, 3*time.Minute)
		c := clientPod(t, 0)
		fs := withFault(t, "dns-loss", lab.FaultOptions{Probability: 0.5})
		eps, err := l.KubeDNSEndpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// 24 queries at 50% loss lose at least 3 but for 1 run in 50000; a
		// healthy pod may lose one or two to a loaded machine.
		const queries = 24
		for _, ep := range eps {
			lost := 0
			for i := 0; i < queries; i++ {
				if _, err := l.DNSQuery(ctx, c, ep, "kubernetes.default.svc.cluster.local", dns.TypeA, false, time.Second); err != nil {
					lost++
				}
			}
			hit := strings.HasSuffix(fs.Target, " "+ep)
			if hit && lost < 3 {
				t.Errorf("faulted CoreDNS pod %s lost %d/%d queries, want loss", ep, lost, queries)
			}
			if !hit && lost > 2 {
				t.Errorf("healthy CoreDNS pod %s lost %d/%d queries", ep, lost, queries)
			}
		}
	})

	t.Run("lb-pending", func(t *testing.T) {
		ctx := ctxT(t, time.Minute)
		withFault(t, "lb-pending", lab.FaultOptions{})
		evs, err := l.Client().CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=ndlab-lb"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs.Items {
			if e.Reason == "SyncLoadBalancerFailed" && e.Source.Component == "service-controller" && e.Type == corev1.EventTypeWarning &&
				strings.Contains(e.Message, "AuthorizationFailed") {
				found = true
			}
		}
		if !found {
			t.Errorf("no SyncLoadBalancerFailed event from service-controller: %+v", evs.Items)
		}
		svc, err := l.Client().CoreV1().Services("default").Get(ctx, "ndlab-lb", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(svc.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("service has an ingress %v, want pending", svc.Status.LoadBalancer.Ingress)
		}
	})

	t.Run("etp-local-no-endpoint", func(t *testing.T) {
		if len(l.Nodes()) < 2 {
			t.Skip("needs two nodes")
		}
		ctx := ctxT(t, 2*time.Minute)
		withFault(t, "etp-local-no-endpoint", lab.FaultOptions{Node: l.Nodes()[0].Name})
		svc, err := l.Client().CoreV1().Services("default").Get(ctx, "ndlab-etp", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		np := fmt.Sprint(svc.Spec.Ports[0].NodePort)
		hc := fmt.Sprint(svc.Spec.HealthCheckNodePort)
		with, without := l.Nodes()[0].IP, l.Nodes()[1].IP
		eventually(t, 20*time.Second, "node with the endpoint serves the node port", func() error {
			code, _, err := l.HTTPGet(ctx, "edge", "http://"+net.JoinHostPort(with, np)+"/", 2*time.Second)
			if err != nil || code != 200 {
				return fmt.Errorf("%d %v", code, err)
			}
			return nil
		})
		if _, _, err := l.HTTPGet(ctx, "edge", "http://"+net.JoinHostPort(without, np)+"/", 2*time.Second); err == nil {
			t.Errorf("node %s without a local endpoint answered the node port", without)
		}
		code, body, err := l.HTTPGet(ctx, "edge", "http://"+net.JoinHostPort(without, hc)+"/healthz", 2*time.Second)
		if err != nil || code != 503 || !strings.Contains(body, `"localEndpoints": 0`) {
			t.Errorf("health check on %s: %d %v %s, want 503 with 0 local endpoints", without, code, err, body)
		}
	})

	t.Run("nsg-deny", func(t *testing.T) {
		ctx := ctxT(t, time.Minute)
		c := clientPod(t, 0)
		withFault(t, "nsg-deny", lab.FaultOptions{Port: 80})
		if err := tcpWorks(ctx, l, c, web, 2*time.Second); err == nil {
			t.Errorf("tcp/80 to the internet should be denied")
		}
		if err := tcpWorks(ctx, l, c, net.JoinHostPort(lab.WebIP, "7"), 2*time.Second); err != nil {
			t.Errorf("tcp/7 should pass: %v", err)
		}
		if !strings.Contains(fmt.Sprint(readAzure(t, l, "nsg.json")["securityRules"]), "Deny") {
			t.Errorf("nsg.json has no deny rule")
		}
		if err := l.ClearFault(ctx, "nsg-deny"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "tcp/80 passes again", func() error { return tcpWorks(ctx, l, c, web, 2*time.Second) })
	})

	t.Run("udr-blackhole", func(t *testing.T) {
		ctx := ctxT(t, time.Minute)
		c := clientPod(t, 0)
		withFault(t, "udr-blackhole", lab.FaultOptions{Dest: lab.WebIP + "/32"})
		if err := tcpWorks(ctx, l, c, web, 2*time.Second); err == nil {
			t.Errorf("the blackholed destination answered")
		}
		if err := tcpWorks(ctx, l, c, net.JoinHostPort(lab.RemoteIP, "80"), 2*time.Second); err != nil {
			t.Errorf("other destinations should pass the NVA: %v", err)
		}
		if got := fmt.Sprint(readAzure(t, l, "aks.json")["networkProfile"].(map[string]any)["outboundType"]); got != "userDefinedRouting" {
			t.Errorf("aks.json outboundType %s, want userDefinedRouting", got)
		}
		if !strings.Contains(fmt.Sprint(readAzure(t, l, "route-table.json")["routes"]), "0.0.0.0/0") {
			t.Errorf("route-table.json lacks the 0.0.0.0/0 route")
		}
		if err := l.ClearFault(ctx, "udr-blackhole"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "destination reachable again", func() error { return tcpWorks(ctx, l, c, web, 2*time.Second) })
	})

	t.Run("http-proxy-error", func(t *testing.T) {
		ctx := ctxT(t, time.Minute)
		c := clientPod(t, 0)
		withFault(t, "http-proxy-error", lab.FaultOptions{Status: 403})
		eventually(t, 10*time.Second, "403 from the NVA", func() error {
			code, _, err := l.HTTPGet(ctx, c, "http://"+web+"/", 5*time.Second)
			if err != nil || code != 403 {
				return fmt.Errorf("got %d %v", code, err)
			}
			return nil
		})
	})

	t.Run("remote-down", func(t *testing.T) {
		ctx := ctxT(t, time.Minute)
		c := clientPod(t, 0)
		withFault(t, "remote-down", lab.FaultOptions{})
		if err := tcpWorks(ctx, l, c, net.JoinHostPort(lab.RemoteIP, "80"), 2*time.Second); err == nil {
			t.Errorf("remote host answered")
		}
		if err := tcpWorks(ctx, l, c, web, 2*time.Second); err != nil {
			t.Errorf("web host should answer: %v", err)
		}
	})

	t.Run("dns-truncation", func(t *testing.T) {
		if _, err := os.Stat(l.Bin("resolve-musl")); err != nil {
			t.Skip("resolve-musl not built (musl-tools missing)")
		}
		ctx := ctxT(t, time.Minute)
		c := clientPod(t, 0)
		withFault(t, "dns-truncation", lab.FaultOptions{})
		name := uniqueName("t") + ".big.example.com"
		if out, err := l.Exec(ctx, c, l.Bin("resolve-musl"), name); err == nil {
			t.Errorf("musl getaddrinfo(%s) succeeded, want failure on the truncated answer: %s", name, out)
		}
		out, err := l.Exec(ctx, c, l.Bin("resolve-glibc"), name)
		if err != nil || !strings.Contains(string(out), "40 addresses") {
			t.Errorf("glibc getaddrinfo(%s): %v: %s", name, err, out)
		}
		m, err := l.DNSQuery(ctx, l.Nodes()[0].Name, lab.UpstreamDNSIP, uniqueName("u")+".big.example.com", dns.TypeA, false, 2*time.Second)
		if err != nil || !m.Truncated {
			t.Errorf("upstream UDP answer for a big name: %v, want TC", err)
		}
	})

	t.Run("snat-exhaustion", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		fs := withFault(t, "snat-exhaustion", lab.FaultOptions{Node: l.Nodes()[last].Name, Ports: 8})
		echo := net.JoinHostPort(lab.WebIP, "7")
		if err := tcpWorks(ctx, l, clientPod(t, last), echo, 2*time.Second); err == nil {
			t.Errorf("a new connection from exhausted node %s succeeded", fs.Target)
		}
		if last > 0 {
			if err := tcpWorks(ctx, l, clientPod(t, 0), echo, 2*time.Second); err != nil {
				t.Errorf("other nodes should still connect: %v", err)
			}
		}
		lb := readAzure(t, l, "lb.json")
		if !strings.Contains(fmt.Sprint(lb["outboundRules"]), "allocatedOutboundPorts:8") {
			t.Errorf("lb.json outbound rule does not show 8 allocated ports: %v", lb["outboundRules"])
		}
	})

	t.Run("conntrack-full", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		withFault(t, "conntrack-full", lab.FaultOptions{Node: l.Nodes()[last].Name, Connections: 8})
		if err := tcpWorks(ctx, l, clientPod(t, last), web, 2*time.Second); err == nil {
			t.Errorf("a new flow through the full node succeeded")
		}
	})

	t.Run("ephemeral-ports", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		node := l.Nodes()[last]
		withFault(t, "ephemeral-ports", lab.FaultOptions{Node: node.Name})
		ok, failed := 0, 0
		for i := 0; i < 16 && (ok == 0 || failed == 0); i++ {
			if tcpWorks(ctx, l, node.Name, web, time.Second) == nil {
				ok++
			} else {
				failed++
			}
		}
		if ok == 0 || failed == 0 {
			t.Errorf("TCP from %s: %d ok, %d failed; want intermittent", node.Name, ok, failed)
		}
		m, err := l.DNSQuery(ctx, node.Name, lab.UpstreamDNSIP, uniqueName("e")+".dyn.example.com", dns.TypeA, false, 2*time.Second)
		if err != nil || m.Rcode != dns.RcodeSuccess {
			t.Errorf("UDP should be fine: %v", err)
		}
	})
}
