package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

// loopbackDNS is a real DNS server on 127.0.0.1 answering the cluster name
// and www.example.com, with rcode for external names when set, or never
// answering when silent.
func loopbackDNS(t *testing.T, externalRcode int, silent bool) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if silent {
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case strings.HasSuffix(q.Name, ".cluster.local."):
			if q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR(q.Name + " 5 IN A 10.0.0.1")
				m.Answer = append(m.Answer, rr)
			}
		case externalRcode != 0:
			m.Rcode = externalRcode
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(q.Name + " 300 IN A 198.51.100.80")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})
	// UDP and TCP on the same port; retry when the TCP port is taken.
	var (
		pc  net.PacketConn
		l   net.Listener
		err error
	)
	for i := 0; i < 20; i++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		var wg sync.WaitGroup
		wg.Add(1)
		s.NotifyStartedFunc = wg.Done
		go func() { _ = s.ActivateAndServe() }()
		wg.Wait()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// loopbackRunner runs the real "dns" agent handler in-process. Cluster
// addresses in the request are mapped to loopback servers (and back in the
// result); an address with no mapping fails the test, so nothing is ever
// sent beyond loopback. The node view's upstream discovery is replaced by
// the mapped upstream.
type loopbackRunner struct {
	t *testing.T
	// refuseBeside fails agent pods beside another pod (no RBAC there).
	refuseBeside bool
	addrs        map[string]string // cluster IP -> 127.0.0.1:port
	upstream     string            // the node's resolv.conf nameserver
	mu           sync.Mutex
	targets      []runner.Target
}

func (r *loopbackRunner) Run(ctx context.Context, tgt runner.Target, req agent.Request) (agent.Response, error) {
	r.mu.Lock()
	r.targets = append(r.targets, tgt)
	r.mu.Unlock()
	if r.refuseBeside && tgt.BesidePod != "" {
		return agent.Response{}, fmt.Errorf("pods is forbidden: cannot create resource \"pods\" in namespace \"kube-system\"")
	}
	var spec dnsprobe.Spec
	if err := json.Unmarshal(req.Spec, &spec); err != nil {
		return agent.Response{}, err
	}
	if len(spec.UpstreamResolvConf) > 0 {
		spec.Hops = append(spec.Hops, dnsprobe.Hop{Name: dnsprobe.HopUpstream, Addr: r.upstream, Kinds: []string{dnsprobe.KindExternal}})
		spec.UpstreamResolvConf = nil
	}
	spec.ResolvConf = "-"
	back := map[string]string{}
	for i, h := range spec.Hops {
		local, ok := r.addrs[h.Addr]
		if !ok {
			r.t.Errorf("request probes %s, which has no loopback stand-in", h.Addr)
			return agent.Response{}, fmt.Errorf("unmapped address %s", h.Addr)
		}
		back[local] = h.Addr
		spec.Hops[i].Addr = local
	}
	b, _ := json.Marshal(spec)
	out, err := dnsprobe.Handle(ctx, b)
	resp := agent.Response{Kind: req.Kind, Node: tgt.Node}
	if err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	res := out.(*dnsprobe.Result)
	for i := range res.Hops {
		res.Hops[i].Hop.Addr = back[res.Hops[i].Hop.Addr]
	}
	resp.Result, _ = json.Marshal(res)
	return resp, nil
}

func (r *loopbackRunner) RunAll(ctx context.Context, hostNetwork bool, req agent.Request) ([]agent.Response, []error) {
	resp, err := r.Run(ctx, runner.Target{Node: "aks-nodepool1-0", HostNetwork: hostNetwork}, req)
	if err != nil {
		return nil, []error{err}
	}
	return []agent.Response{resp}, nil
}

func dnsTestSnapshot(t *testing.T) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshottest.Load("../analyze/dns/testdata/probes/no-probe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"aks-nodepool1-0", "aks-nodepool1-1"} {
		s.Nodes = append(s.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{corev1.LabelOSStable: "linux"}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	}
	return s
}

func runDNSCmd(t *testing.T, r *loopbackRunner, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	g := &globals{streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}, config: genericclioptions.NewConfigFlags(false)}
	o := &dnsCmdOptions{
		newRunner: func(*globals) (dnsRunner, func(), error) { return r, func() {}, nil },
		collect:   func(context.Context, *globals) (*snapshot.Snapshot, error) { return dnsTestSnapshot(t), nil },
	}
	cmd := dnsCommand(g, o)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestDNSCommandHealthy(t *testing.T) {
	r := &loopbackRunner{t: t, upstream: "192.0.2.53", addrs: map[string]string{
		"10.0.0.10": loopbackDNS(t, 0, false), "10.244.0.5": loopbackDNS(t, 0, false), "10.244.1.5": loopbackDNS(t, 0, false), "192.0.2.53": loopbackDNS(t, 0, false),
	}}
	out, err := runDNSCmd(t, r, "--name", "www.example.com", "--count", "5", "--query-timeout", "300ms")
	if err != nil {
		t.Fatalf("got error %v, want none\n%s", err, out)
	}
	for _, want := range []string{"DNS probe from a pod on aks-nodepool1-", "kube-dns", "coredns kube-system/coredns-5d78c9869d-2xkqp", "192.0.2.53  www.example.com", "100.0%"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A pod-view run and, for the upstream behind /etc/resolv.conf, a run
	// beside the CoreDNS pod of the same node (its resolv.conf and path).
	// The two runs go in parallel: their order is not fixed.
	besideIdx := 1
	if len(r.targets) == 2 && r.targets[0].BesidePod != "" {
		besideIdx = 0
	}
	if len(r.targets) != 2 || r.targets[besideIdx].BesidePod != "kube-system/coredns-5d78c9869d-2xkqp" || r.targets[1-besideIdx].BesidePod != "" || r.targets[0].Node != r.targets[1].Node {
		t.Errorf("targets: got %+v, want a pod view and a run beside the CoreDNS pod on the same node", r.targets)
	}
}

func TestDNSCommandUpstreamFromNodeWhenBesideIsRefused(t *testing.T) {
	r := &loopbackRunner{t: t, refuseBeside: true, upstream: "192.0.2.53", addrs: map[string]string{
		"10.0.0.10": loopbackDNS(t, 0, false), "10.244.0.5": loopbackDNS(t, 0, false), "10.244.1.5": loopbackDNS(t, 0, false), "192.0.2.53": loopbackDNS(t, 0, false),
	}}
	out, err := runDNSCmd(t, r, "--name", "www.example.com", "--count", "2", "--query-timeout", "300ms")
	if err != nil {
		t.Fatalf("got error %v, want none\n%s", err, out)
	}
	// The pod view runs in parallel with the upstream runs; the node view
	// comes after the refused run beside CoreDNS.
	besideAt, nodeAt := -1, -1
	for i, tg := range r.targets {
		if tg.BesidePod != "" {
			besideAt = i
		}
		if tg.HostNetwork {
			nodeAt = i
		}
	}
	if len(r.targets) != 3 || besideAt < 0 || nodeAt < besideAt {
		t.Errorf("targets: got %+v, want the node view after the refused run beside CoreDNS", r.targets)
	}
	for _, want := range []string{"192.0.2.53  www.example.com", "upstream from beside CoreDNS pod kube-system/coredns-5d78c9869d-2xkqp: pods is forbidden", "upstream probed from node aks-nodepool1-0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDNSCommandUpstreamBlocked(t *testing.T) {
	// CoreDNS answers cluster names and SERVFAILs the rest; the upstream is silent.
	r := &loopbackRunner{t: t, upstream: "192.0.2.53", addrs: map[string]string{
		"10.0.0.10":  loopbackDNS(t, dns.RcodeServerFailure, false),
		"10.244.0.5": loopbackDNS(t, dns.RcodeServerFailure, false),
		"10.244.1.5": loopbackDNS(t, dns.RcodeServerFailure, false),
		"192.0.2.53": loopbackDNS(t, 0, true),
	}}
	out, err := runDNSCmd(t, r, "--name", "www.example.com", "--count", "3", "--query-timeout", "200ms", "-o", "json")
	if !IsFindings(err) {
		t.Fatalf("got error %v, want findings\n%s", err, out)
	}
	var got struct {
		Findings []struct {
			Code     string   `json:"code"`
			Evidence []string `json:"evidence"`
		} `json:"findings"`
		DNSProbe dnsprobe.Observations `json:"dnsProbe"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	var codes []string
	for _, f := range got.Findings {
		codes = append(codes, f.Code)
		if f.Code == "DNS002" && !strings.Contains(strings.Join(f.Evidence, "\n"), "answers neither UDP nor TCP") {
			t.Errorf("DNS002 evidence does not say the upstream answers neither UDP nor TCP: %v", f.Evidence)
		}
	}
	if !strings.Contains(strings.Join(codes, ","), "DNS002") {
		t.Errorf("codes: got %v, want DNS002", codes)
	}
	if len(got.DNSProbe.Runs) != 1 || got.DNSProbe.Schema != dnsprobe.ObservationsSchema {
		t.Errorf("dnsProbe: got %d runs, schema %q", len(got.DNSProbe.Runs), got.DNSProbe.Schema)
	}
}

func TestDNSCommandFlags(t *testing.T) {
	r := &loopbackRunner{t: t}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--node", "n1", "--all-nodes"}, "exclusive"},
		{[]string{"--count", "0"}, "--count"},
		{[]string{"-o", "yaml"}, "unknown output format"},
		{[]string{"--from", "shop/nope"}, "no pod"},
		{[]string{"--node", "nope"}, "no node"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runDNSCmd(t, r, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || ExitCode(err) != ExitError {
				t.Errorf("got %v (exit %d), want a usage error containing %q", err, ExitCode(err), tt.want)
			}
		})
	}
}

func TestDiagnoseProbeWritesObservations(t *testing.T) {
	r := &loopbackRunner{t: t, upstream: "192.0.2.53", addrs: map[string]string{
		"10.0.0.10": loopbackDNS(t, 0, false), "10.244.0.5": loopbackDNS(t, 0, false), "10.244.1.5": loopbackDNS(t, 0, false), "192.0.2.53": loopbackDNS(t, 0, false),
	}}
	o := &probeOptions{enabled: true, dns: dnsProbeFlags{names: []string{"www.example.com"}, count: 2, rate: 100, queryTO: 300e6, maxRuntime: 10e9},
		newRunner: func(*globals, agentOptions) (dnsRunner, func(), error) { return r, func() {}, nil }}
	snap := dnsTestSnapshot(t)
	if err := o.run(context.Background(), &globals{}, snap); err != nil {
		t.Fatal(err)
	}
	b, ok2 := snap.File(dnsprobe.ObservationsPath)
	if !ok2 {
		t.Fatalf("no %s in the snapshot (skipped: %v)", dnsprobe.ObservationsPath, snap.Manifest.Skipped)
	}
	obs, err := dnsprobe.DecodeObservations(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Runs) != 1 || len(obs.Runs[0].Hops) != 4 {
		t.Errorf("got %d runs with %d hops (%+v), want 1 run with kube-dns, 2 CoreDNS pods and the upstream", len(obs.Runs), len(obs.Runs[0].Hops), obs.Runs[0].Notes)
	}
}
