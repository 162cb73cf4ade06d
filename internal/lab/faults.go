package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var listAll = metav1.ListOptions{}

// FaultOptions tune a fault; zero values take each fault's default.
type FaultOptions struct {
	// Node is the node a per-node fault hits (name, index or n0); default
	// the last node.
	Node string `json:"node,omitempty"`
	// Pod is the CoreDNS pod dns-loss hits; default the first by name.
	Pod string `json:"pod,omitempty"`
	// Port and Protocol select the traffic nsg-deny denies (default tcp/80).
	Port     int    `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// Dest is the prefix udr-blackhole drops (default 0.0.0.0/0).
	Dest string `json:"dest,omitempty"`
	// Status is the HTTP code http-proxy-error answers (403, 502, 504).
	Status int `json:"status,omitempty"`
	// Probability is the drop probability of dns-loss (default 0.3).
	Probability float64 `json:"probability,omitempty"`
	// Ports is the SNAT port count snat-exhaustion leaves a node (default 8).
	Ports int `json:"ports,omitempty"`
	// Connections is how many connections the load pod of snat-exhaustion
	// and conntrack-full holds (default 16, at most 256), and conntrack-full's
	// table size (default 32).
	Connections int `json:"connections,omitempty"`
	// Reason picks lb-pending's Azure error: authorization-failed (default),
	// public-ip-quota or subnet-not-found.
	Reason string `json:"reason,omitempty"`
}

// fault is one injectable fault.
type fault struct {
	help   string
	inject func(ctx context.Context, l *Lab, o *FaultOptions) (target string, err error)
	clear  func(ctx context.Context, l *Lab, f FaultState) error
}

// faults is the registration table of every fault the lab knows.
var faults = map[string]fault{
	"coredns-down":          {"CoreDNS scaled to zero: kube-dns has no endpoints", injectCoreDNSDown, clearCoreDNSDown},
	"upstream-dns-blocked":  {"53/udp and 53/tcp to the upstream DNS dropped at the edge (NSG rule)", injectUpstreamBlocked, clearUpstreamBlocked},
	"dns-truncation":        {"upstream caps UDP answers at 512 bytes (TC, no records) whatever EDNS0 says", injectTruncation, clearTruncation},
	"dns-loss":              {"random loss of DNS queries on one CoreDNS pod (iptables statistic)", injectDNSLoss, clearDNSLoss},
	"kubenet-route-missing": {"a node's pod CIDR route removed from the route table", injectRouteMissing, clearRouteMissing},
	"snat-exhaustion":       {"a node's SNAT port range cut to a few ports and a pod holding connections", injectSNAT, clearSNAT},
	"udr-blackhole":         {"0.0.0.0/0 routed to the NVA, which drops the destination", injectUDR, clearUDR},
	"nsg-deny":              {"an outbound NSG deny rule for a port", injectNSG, clearNSG},
	"ephemeral-ports":       {"edge lets TCP replies back only to 32768-65535 while the node's SNAT uses 1024-65535", injectEphemeral, clearEphemeral},
	"conntrack-full":        {"new flows on a node dropped past a small per-namespace limit", injectConntrack, clearConntrack},
	"lb-pending":            {"a LoadBalancer Service the cloud provider fails to ensure (Azure error events)", injectLBPending, clearLBPending},
	"etp-local-no-endpoint": {"externalTrafficPolicy: Local Service whose only endpoint is on one node", injectETP, clearETP},
	"remote-down":           {"the internet host remote.example.com (198.51.100.81) stops answering", injectRemoteDown, clearRemoteDown},
	"http-proxy-error":      {"0.0.0.0/0 routed to the NVA, which answers HTTP with 403/502/504", injectProxyError, clearProxyError},
}

// FaultNames lists the faults with a line of help each.
func FaultNames() map[string]string {
	out := map[string]string{}
	for k, f := range faults {
		out[k] = f.help
	}
	return out
}

// Fault injects the named fault and records it. Injecting an active fault
// again is an error.
func (l *Lab) Fault(ctx context.Context, name string, opts FaultOptions) (FaultState, error) {
	f, ok := faults[name]
	if !ok {
		names := make([]string, 0, len(faults))
		for k := range faults {
			names = append(names, k)
		}
		sort.Strings(names)
		return FaultState{}, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(names, ", "))
	}
	unlock, err := flock(ctx, l.RunDir(), "state.lock")
	if err != nil {
		return FaultState{}, err
	}
	defer unlock()
	if err := l.reload(); err != nil {
		return FaultState{}, err
	}
	if on, ok := l.state.Faults[name]; ok {
		return FaultState{}, fmt.Errorf("fault %s is already on (target %s, since %s)", name, on.Target, on.Since.Format(time.RFC3339))
	}
	target, err := f.inject(ctx, l, &opts)
	if err != nil {
		return FaultState{}, fmt.Errorf("fault %s: %w", name, err)
	}
	fs := FaultState{Name: name, Options: opts, Target: target, Since: time.Now()}
	if l.state.Faults == nil {
		l.state.Faults = map[string]FaultState{}
	}
	l.state.Faults[name] = fs
	if err := l.save(); err != nil {
		return fs, err
	}
	return fs, l.writeAzure()
}

// ClearFault removes the named fault, or every active fault when name is "".
func (l *Lab) ClearFault(ctx context.Context, name string) error {
	unlock, err := flock(ctx, l.RunDir(), "state.lock")
	if err != nil {
		return err
	}
	defer unlock()
	if err := l.reload(); err != nil {
		return err
	}
	var names []string
	if name == "" {
		for k := range l.state.Faults {
			names = append(names, k)
		}
	} else {
		if _, ok := faults[name]; !ok {
			return fmt.Errorf("unknown fault %q", name)
		}
		if _, on := l.state.Faults[name]; !on {
			return nil
		}
		names = []string{name}
	}
	var errs []string
	for _, n := range names {
		if err := faults[n].clear(ctx, l, l.state.Faults[n]); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		delete(l.state.Faults, n)
	}
	if err := l.save(); err != nil {
		return err
	}
	if err := l.writeAzure(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("clear fault: %s", strings.Join(errs, "; "))
	}
	return nil
}

// reload re-reads the state file, so faults set by another process (ndlab
// fault while tests run) are seen.
func (l *Lab) reload() error {
	other, err := Load(l.RunDir())
	if err != nil {
		return err
	}
	l.state.Faults = other.state.Faults
	return nil
}

func (l *Lab) faultNode(o *FaultOptions) (Node, error) {
	if o.Node == "" {
		n := l.state.Nodes[len(l.state.Nodes)-1]
		o.Node = n.Name
		return n, nil
	}
	n, ok := l.node(o.Node)
	if !ok {
		return Node{}, fmt.Errorf("unknown node %q", o.Node)
	}
	o.Node = n.Name
	return n, nil
}

// --- coredns-down

func scaleCoreDNS(ctx context.Context, l *Lab, n int32) error {
	s, err := l.client.AppsV1().Deployments("kube-system").GetScale(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get coredns scale: %w", err)
	}
	s.Spec.Replicas = n
	if _, err := l.client.AppsV1().Deployments("kube-system").UpdateScale(ctx, "coredns", s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scale coredns: %w", err)
	}
	return nil
}

func injectCoreDNSDown(ctx context.Context, l *Lab, _ *FaultOptions) (string, error) {
	if err := scaleCoreDNS(ctx, l, 0); err != nil {
		return "", err
	}
	// Wait until the endpoints are gone, so the symptom is there on return.
	return "deployment/kube-system/coredns", waitFor(ctx, "kube-dns endpoints gone", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		eps, err := l.KubeDNSEndpoints(ctx)
		return err == nil && len(eps) == 0, err
	})
}

func clearCoreDNSDown(ctx context.Context, l *Lab, _ FaultState) error {
	if err := scaleCoreDNS(ctx, l, CoreDNSReplicas); err != nil {
		return err
	}
	return l.WaitHealthy(ctx, 2*time.Minute)
}

// --- upstream-dns-blocked

func (l *Lab) upstreamRules(op string) [][]string {
	return [][]string{
		ipt(l.nsName("edge"), op, "NDL-NSG", "-d", UpstreamDNSIP, "-p", "udp", "--dport", "53", "-j", "DROP"),
		ipt(l.nsName("edge"), op, "NDL-NSG", "-d", UpstreamDNSIP, "-p", "tcp", "--dport", "53", "-j", "DROP"),
	}
}

func injectUpstreamBlocked(ctx context.Context, l *Lab, _ *FaultOptions) (string, error) {
	return UpstreamDNSIP, l.steps(ctx, l.upstreamRules("-I"))
}

func clearUpstreamBlocked(ctx context.Context, l *Lab, _ FaultState) error {
	return l.steps(ctx, l.upstreamRules("-D"))
}

// --- dns-truncation

func injectTruncation(ctx context.Context, l *Lab, _ *FaultOptions) (string, error) {
	if err := os.WriteFile(filepath.Join(l.RunDir(), "upstream-mode"), []byte("legacy512\n"), 0o644); err != nil {
		return "", fmt.Errorf("set upstream mode: %w", err)
	}
	// Let the server see the mode before returning.
	time.Sleep(300 * time.Millisecond)
	return UpstreamDNSIP, nil
}

func clearTruncation(_ context.Context, l *Lab, _ FaultState) error {
	err := os.Remove(filepath.Join(l.RunDir(), "upstream-mode"))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("clear upstream mode: %w", err)
	}
	time.Sleep(300 * time.Millisecond)
	return nil
}

// --- dns-loss

func corednsPods(ctx context.Context, l *Lab) ([]corev1.Pod, error) {
	pods, err := l.client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		return nil, fmt.Errorf("list coredns pods: %w", err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func lossRule(op, prob string) []string {
	return []string{"iptables", "-w", op, "INPUT", "-p", "udp", "--dport", "53", "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"}
}

func injectDNSLoss(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	if o.Probability <= 0 || o.Probability > 1 {
		o.Probability = 0.3
	}
	pods, err := corednsPods(ctx, l)
	if err != nil {
		return "", err
	}
	var pod *corev1.Pod
	for i := range pods {
		if o.Pod == "" || pods[i].Name == o.Pod {
			pod = &pods[i]
			break
		}
	}
	if pod == nil {
		return "", fmt.Errorf("no running coredns pod %q", o.Pod)
	}
	o.Pod = pod.Name
	t, err := l.podTarget(pod)
	if err != nil {
		return "", err
	}
	_, err = l.in(ctx, t.NetNS, lossRule("-I", strconv.FormatFloat(o.Probability, 'f', -1, 64))...)
	return "kube-system/" + pod.Name + " " + pod.Status.PodIP, err
}

func clearDNSLoss(ctx context.Context, l *Lab, f FaultState) error {
	pod, err := l.client.CoreV1().Pods("kube-system").Get(ctx, f.Options.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", f.Options.Pod, err)
	}
	t, err := l.podTarget(pod)
	if err != nil {
		return err
	}
	_, err = l.in(ctx, t.NetNS, lossRule("-D", strconv.FormatFloat(f.Options.Probability, 'f', -1, 64))...)
	return err
}

// --- kubenet-route-missing

func injectRouteMissing(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	if l.state.Config.Network != "kubenet" {
		return "", fmt.Errorf("needs --network kubenet")
	}
	n, err := l.faultNode(o)
	if err != nil {
		return "", err
	}
	return n.Name, l.ip(ctx, "-n", l.nsName("edge"), "route", "del", n.PodCIDR, "via", n.IP)
}

func clearRouteMissing(ctx context.Context, l *Lab, f FaultState) error {
	n, ok := l.node(f.Target)
	if !ok {
		return fmt.Errorf("unknown node %q", f.Target)
	}
	return l.ip(ctx, "-n", l.nsName("edge"), "route", "replace", n.PodCIDR, "via", n.IP)
}

// --- snat-exhaustion and conntrack-full: a bounded load pod

func loadPod(name, node, target string, conns int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "ndlab-load"}},
		Spec: corev1.PodSpec{
			NodeName:              node,
			RestartPolicy:         corev1.RestartPolicyNever,
			ActiveDeadlineSeconds: ptr.To[int64](1800),
			Containers: []corev1.Container{{
				Name: "load", Image: "ndlab-load:latest",
				Env: []corev1.EnvVar{{Name: "TARGET", Value: target}, {Name: "CONNECTIONS", Value: strconv.Itoa(conns)}, {Name: "HOLD", Value: "1800"}},
			}},
		},
	}
}

func startLoad(ctx context.Context, l *Lab, name, node string, conns int) error {
	_ = l.client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	_ = waitFor(ctx, "old load pod gone", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := l.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := l.client.CoreV1().Pods("default").Create(ctx, loadPod(name, node, WebIP+":7", conns), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create load pod: %w", err)
	}
	// Wait until the pod says it holds its connections.
	wctx, cancel := context.WithTimeout(ctx, time.Duration(conns)*4*time.Second+30*time.Second)
	defer cancel()
	return waitFor(wctx, "load pod connections", 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		b, err := l.client.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
		return err == nil && strings.Contains(string(b), "holding"), err
	})
}

func stopLoad(ctx context.Context, l *Lab, name string) error {
	err := l.client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete load pod: %w", err)
	}
	return waitFor(ctx, "load pod gone", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := l.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func injectSNAT(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	n, err := l.faultNode(o)
	if err != nil {
		return "", err
	}
	if o.Ports <= 0 {
		o.Ports = 8
	}
	if o.Connections <= 0 {
		o.Connections = o.Ports + 2
	}
	o.Connections = min(o.Connections, 256)
	small := [2]int{n.SNATPorts[0], n.SNATPorts[0] + o.Ports - 1}
	cmds := append(l.snatRules("-D", n, n.SNATPorts), l.snatRules("-I", n, small)...)
	if err := l.steps(ctx, cmds); err != nil {
		return "", err
	}
	// The load pod fills the range; its own extra connections fail, as a
	// workload's do on an exhausted node.
	if err := startLoad(ctx, l, "ndlab-snat-load", n.Name, o.Connections); err != nil {
		return "", err
	}
	return n.Name, nil
}

func clearSNAT(ctx context.Context, l *Lab, f FaultState) error {
	n, ok := l.node(f.Target)
	if !ok {
		return fmt.Errorf("unknown node %q", f.Target)
	}
	if err := stopLoad(ctx, l, "ndlab-snat-load"); err != nil {
		return err
	}
	small := [2]int{n.SNATPorts[0], n.SNATPorts[0] + f.Options.Ports - 1}
	cmds := append(l.snatRules("-D", n, small), l.snatRules("-A", n, n.SNATPorts)...)
	return l.steps(ctx, cmds)
}

func connRule(op string, chain string, limit int) []string {
	return ipt("", op, chain, "-m", "conntrack", "--ctstate", "NEW", "-m", "connlimit", "--connlimit-above", strconv.Itoa(limit),
		"--connlimit-mask", "0", "-m", "comment", "--comment", "ndlab: conntrack table full", "-j", "DROP")[3:]
}

func injectConntrack(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	n, err := l.faultNode(o)
	if err != nil {
		return "", err
	}
	if o.Connections <= 0 {
		o.Connections = 16
	}
	o.Connections = min(o.Connections, 256)
	// The limit goes in first so connlimit counts the load pod's flows,
	// which then fill the "table": every further new flow is dropped.
	for _, ch := range []string{"FORWARD", "OUTPUT"} {
		if _, err := l.in(ctx, n.NetNS, connRule("-I", ch, o.Connections)...); err != nil {
			return "", err
		}
	}
	if err := startLoad(ctx, l, "ndlab-conntrack-load", n.Name, o.Connections); err != nil {
		return "", err
	}
	return n.Name, nil
}

func clearConntrack(ctx context.Context, l *Lab, f FaultState) error {
	n, ok := l.node(f.Target)
	if !ok {
		return fmt.Errorf("unknown node %q", f.Target)
	}
	for _, ch := range []string{"FORWARD", "OUTPUT"} {
		if _, err := l.in(ctx, n.NetNS, connRule("-D", ch, f.Options.Connections)...); err != nil {
			return err
		}
	}
	return stopLoad(ctx, l, "ndlab-conntrack-load")
}

// --- udr-blackhole and http-proxy-error: default route via the NVA

func routeViaNVA(ctx context.Context, l *Lab, on bool) error {
	if on {
		return l.ip(ctx, "-n", l.nsName("edge"), "route", "replace", "default", "via", NVAIP)
	}
	if l.udrOn() {
		return nil // the other UDR fault still needs it
	}
	return l.ip(ctx, "-n", l.nsName("edge"), "route", "replace", "default", "via", "203.0.113.254")
}

func injectUDR(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	if o.Dest == "" {
		o.Dest = "0.0.0.0/0"
	}
	if err := l.ip(ctx, "-n", l.nsName("nva"), "route", "replace", "blackhole", o.Dest); err != nil {
		return "", err
	}
	return o.Dest, routeViaNVA(ctx, l, true)
}

func clearUDR(ctx context.Context, l *Lab, f FaultState) error {
	delete(l.state.Faults, "udr-blackhole")
	if err := routeViaNVA(ctx, l, false); err != nil {
		return err
	}
	if err := l.ip(ctx, "-n", l.nsName("nva"), "route", "del", "blackhole", f.Options.Dest); err != nil {
		return err
	}
	if f.Options.Dest == "0.0.0.0/0" {
		return l.ip(ctx, "-n", l.nsName("nva"), "route", "replace", "default", "via", "203.0.113.254")
	}
	return nil
}

func (l *Lab) proxyRule(op string) []string {
	return ipt(l.nsName("nva"), "-t", "nat", op, "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", "80", "-j", "REDIRECT", "--to-ports", "8080")
}

func injectProxyError(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	if o.Status == 0 {
		o.Status = 403
	}
	if err := os.WriteFile(filepath.Join(l.RunDir(), "nva-status"), []byte(strconv.Itoa(o.Status)), 0o644); err != nil {
		return "", fmt.Errorf("write nva status: %w", err)
	}
	if err := l.steps(ctx, [][]string{l.proxyRule("-I")}); err != nil {
		return "", err
	}
	return NVAIP, routeViaNVA(ctx, l, true)
}

func clearProxyError(ctx context.Context, l *Lab, _ FaultState) error {
	delete(l.state.Faults, "http-proxy-error")
	if err := routeViaNVA(ctx, l, false); err != nil {
		return err
	}
	return l.steps(ctx, [][]string{l.proxyRule("-D")})
}

// --- nsg-deny

func (l *Lab) nsgRuleCmd(op string, o FaultOptions) []string {
	return ipt(l.nsName("edge"), op, "NDL-NSG", "-p", o.Protocol, "--dport", strconv.Itoa(o.Port), "-j", "DROP")
}

func injectNSG(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	if o.Port == 0 {
		o.Port = 80
	}
	if o.Protocol == "" {
		o.Protocol = "tcp"
	}
	return fmt.Sprintf("%s/%d", o.Protocol, o.Port), l.steps(ctx, [][]string{l.nsgRuleCmd("-I", *o)})
}

func clearNSG(ctx context.Context, l *Lab, f FaultState) error {
	return l.steps(ctx, [][]string{l.nsgRuleCmd("-D", f.Options)})
}

// --- ephemeral-ports

const ephemeralIP = "203.0.113.11"

func (l *Lab) ephemeralCmds(op string, n Node) [][]string {
	addrOp := "add"
	if op == "-D" {
		addrOp = "del"
	}
	return [][]string{
		{"ip", "-n", l.nsName("edge"), "addr", addrOp, ephemeralIP + "/32", "dev", "wan"},
		ipt(l.nsName("edge"), "-t", "nat", op, "NDL-SNAT", "-s", n.IP, "-p", "tcp", "-j", "SNAT", "--to-source", ephemeralIP+":1024-65535", "--random-fully"),
		ipt(l.nsName("edge"), "-t", "raw", op, "NDL-FAULTS", "-i", "wan", "-d", ephemeralIP, "-p", "tcp", "!", "--dport", "32768:65535", "-j", "DROP"),
	}
}

func injectEphemeral(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	n, err := l.faultNode(o)
	if err != nil {
		return "", err
	}
	cmds := l.ephemeralCmds("-I", n)
	cmds = append(cmds, sysctl(n.NetNS, "net.ipv4.ip_local_port_range=1024 65535"))
	return n.Name, l.steps(ctx, cmds)
}

func clearEphemeral(ctx context.Context, l *Lab, f FaultState) error {
	n, ok := l.node(f.Target)
	if !ok {
		return fmt.Errorf("unknown node %q", f.Target)
	}
	cmds := l.ephemeralCmds("-D", n)
	cmds = append(cmds, sysctl(n.NetNS, "net.ipv4.ip_local_port_range=32768 60999"))
	return l.steps(ctx, cmds)
}

// --- remote-down

func (l *Lab) remoteRule(op string) []string {
	return ipt(l.nsName("inet"), op, "NDL-FAULTS", "-d", RemoteIP, "-j", "DROP")
}

func injectRemoteDown(ctx context.Context, l *Lab, _ *FaultOptions) (string, error) {
	return RemoteIP, l.steps(ctx, [][]string{l.remoteRule("-I")})
}

func clearRemoteDown(ctx context.Context, l *Lab, _ FaultState) error {
	return l.steps(ctx, [][]string{l.remoteRule("-D")})
}

// --- lb-pending

// lbErrors are service-controller event messages as cloud-provider-azure
// writes them when ensuring a load balancer fails.
var lbErrors = map[string]string{
	"authorization-failed": `Error syncing load balancer: failed to ensure load balancer: Retriable: false, RetryAfter: 0s, HTTPStatusCode: 403, RawError: {"error":{"code":"AuthorizationFailed","message":"The client '7f3a2b1c-4d5e-4f60-8a9b-0c1d2e3f4a5b' with object id '7f3a2b1c-4d5e-4f60-8a9b-0c1d2e3f4a5b' does not have authorization to perform action 'Microsoft.Network/publicIPAddresses/write' over scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_ndlab-rg_ndlab_westeurope/providers/Microsoft.Network/publicIPAddresses/kubernetes-a1b2c3d4e5f60718293a4b5c6d7e8f90' or the scope is invalid. If access was recently granted, please refresh your credentials."}}`,
	"public-ip-quota":      `Error syncing load balancer: failed to ensure load balancer: Retriable: false, RetryAfter: 0s, HTTPStatusCode: 400, RawError: {"error":{"code":"PublicIPCountLimitReached","message":"Cannot create more than 10 public IP addresses for this subscription in this region.","details":[]}}`,
	"subnet-not-found":     `Error syncing load balancer: failed to ensure load balancer: ensure(default/ndlab-lb): lb(kubernetes-internal) - failed to get subnet: aks-vnet-12345678/ilb-subnet`,
}

func injectLBPending(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	if o.Reason == "" {
		o.Reason = "authorization-failed"
	}
	msg, ok := lbErrors[o.Reason]
	if !ok {
		return "", fmt.Errorf("unknown lb-pending reason %q", o.Reason)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ndlab-lb", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "ndlab-lb"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if o.Reason == "subnet-not-found" {
		svc.Annotations = map[string]string{
			"service.beta.kubernetes.io/azure-load-balancer-internal":        "true",
			"service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "ilb-subnet",
		}
	}
	created, err := l.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create service: %w", err)
	}
	now := time.Now()
	ev := func(name, typ, reason, message string, count int32, first time.Time) *corev1.Event {
		return &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: "ndlab-lb." + name, Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: "default", Name: "ndlab-lb",
				UID: created.UID, APIVersion: "v1", ResourceVersion: created.ResourceVersion},
			Reason: reason, Message: message, Type: typ, Count: count,
			Source:         corev1.EventSource{Component: "service-controller"},
			FirstTimestamp: metav1.NewTime(first), LastTimestamp: metav1.NewTime(now),
		}
	}
	for _, e := range []*corev1.Event{
		ev("17f0a1b2c3d4e5f6", corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensuring load balancer", 4, now.Add(-5*time.Minute)),
		ev("17f0a1b2c3d4e5f7", corev1.EventTypeWarning, "SyncLoadBalancerFailed", msg, 4, now.Add(-5*time.Minute)),
	} {
		if _, err := l.client.CoreV1().Events("default").Create(ctx, e, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("create event: %w", err)
		}
	}
	return "service/default/ndlab-lb", nil
}

func clearLBPending(ctx context.Context, l *Lab, _ FaultState) error {
	err := l.client.CoreV1().Services("default").Delete(ctx, "ndlab-lb", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete service: %w", err)
	}
	for _, n := range []string{"ndlab-lb.17f0a1b2c3d4e5f6", "ndlab-lb.17f0a1b2c3d4e5f7"} {
		_ = l.client.CoreV1().Events("default").Delete(ctx, n, metav1.DeleteOptions{})
	}
	return nil
}

// --- etp-local-no-endpoint

// ETPLoadBalancerIP is the ingress IP the lab writes on the
// etp-local-no-endpoint Service, as the cloud provider would.
const ETPLoadBalancerIP = "203.0.113.100"

func injectETP(ctx context.Context, l *Lab, o *FaultOptions) (string, error) {
	first := l.state.Nodes[0]
	if o.Node != "" {
		n, ok := l.node(o.Node)
		if !ok {
			return "", fmt.Errorf("unknown node %q", o.Node)
		}
		first = n
	}
	o.Node = first.Name
	y := fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: ndlab-etp-backend
  namespace: default
  labels: {app: ndlab-etp}
spec:
  nodeName: %s
  containers:
  - name: web
    image: ndlab/web:1
    ports: [{containerPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata:
  name: ndlab-etp
  namespace: default
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: ndlab-etp}
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
`, first.Name)
	if err := Apply(ctx, l.client, y); err != nil {
		return "", err
	}
	// Play the cloud provider: give the Service its load balancer IP.
	if err := waitFor(ctx, "etp service ingress", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		svc, err := l.client.CoreV1().Services("default").Get(ctx, "ndlab-etp", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ETPLoadBalancerIP, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
		_, err = l.client.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{})
		return err == nil, err
	}); err != nil {
		return "", err
	}
	return "service/default/ndlab-etp endpoint-node=" + first.Name, waitFor(ctx, "etp endpoint ready", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		p, err := l.client.CoreV1().Pods("default").Get(ctx, "ndlab-etp-backend", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

func clearETP(ctx context.Context, l *Lab, _ FaultState) error {
	err := l.client.CoreV1().Services("default").Delete(ctx, "ndlab-etp", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete service: %w", err)
	}
	err = l.client.CoreV1().Pods("default").Delete(ctx, "ndlab-etp-backend", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod: %w", err)
	}
	return nil
}
