package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// loopbackServer accepts TCP connections on 127.0.0.1 and returns its
// address and an address where nothing listens.
func loopbackServer(t *testing.T) (open, closed string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = cl.Addr().String()
	cl.Close()
	return ln.Addr().String(), closed
}

func TestProbeFromHere(t *testing.T) {
	open, _ := loopbackServer(t)
	out, stderr, code := run(t, "probe", open, "--cluster=false", "--from-here", "--icmp=false", "--count", "3", "--interval", "10ms")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q, out:\n%s", code, stderr, out)
	}
	for _, want := range []string{"PLACE", "TCP " + open, "here this machine", "ok 3/3", "Where: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestProbeFromHereRefusedJSON(t *testing.T) {
	_, closed := loopbackServer(t)
	out, stderr, code := run(t, "probe", closed, "--cluster=false", "--from-here", "--icmp=false", "--count", "2", "--interval", "10ms", "-o", "json", "--firewall-ports", "1024-65535")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d (stderr %q)", code, ExitFindings, stderr)
	}
	var f probe.File
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if f.SchemaVersion != probe.FileSchema || f.FirewallReturnPorts != "1024-65535" || len(f.Runs) != 1 {
		t.Fatalf("file = %+v", f)
	}
	r := f.Runs[0]
	if len(r.Legs) != 1 || r.Legs[0].Series[0].Dominant != probe.Refused || r.Conclusion.Locus != probe.LocusRemote {
		t.Errorf("run = %+v, want one refused leg concluding remote", r)
	}
}

// localRunner stands in for the cluster: it runs the real probe handler in
// this process for node legs, and for pod legs against a refusing port, so
// the pod fails where the node works.
type localRunner struct {
	refused string
	mu      sync.Mutex
	targets []runner.Target
}

func (l *localRunner) Run(ctx context.Context, t runner.Target, req agent.Request) (agent.Response, error) {
	l.mu.Lock()
	l.targets = append(l.targets, t)
	l.mu.Unlock()
	spec := req.Spec
	if !t.HostNetwork {
		var r probe.Request
		if err := json.Unmarshal(spec, &r); err != nil {
			return agent.Response{}, err
		}
		for i := range r.Probes {
			if r.Probes[i].Kind == probe.KindTCP {
				r.Probes[i].Target = l.refused
			}
		}
		spec, _ = json.Marshal(r)
	}
	res, err := probe.Handle(ctx, spec)
	resp := agent.Response{Kind: req.Kind, Node: "node-1"}
	if err != nil {
		resp.Error = err.Error()
	}
	resp.Result, _ = json.Marshal(res)
	return resp, nil
}

func (l *localRunner) RunAll(ctx context.Context, hostNetwork bool, req agent.Request) ([]agent.Response, []error) {
	resp, err := l.Run(ctx, runner.Target{Node: "node-1", HostNetwork: hostNetwork}, req)
	if err != nil {
		return nil, []error{err}
	}
	return []agent.Response{resp}, []error{&runner.NodeError{Node: "node-2", Err: runner.ErrSkipped}}
}

func (l *localRunner) Close(context.Context) error { return nil }

// runProbe runs `probe ARGS` with the cluster replaced by r.
func runProbe(t *testing.T, r legRunner, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	g := &globals{streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}, config: genericclioptions.NewConfigFlags(false)}
	o := &probeCmdOptions{
		newRunner: func(*globals) (legRunner, error) { return r, nil },
		podNode: func(_ context.Context, _ *globals, ns, name string) (string, error) {
			return "node-1", nil
		},
		outsideProber: func(string) (*probe.Prober, error) { return probe.New(false), nil },
		now:           func() time.Time { return time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC) },
	}
	cmd := probeCommand(g, o)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestProbeNodeAndPodLegs(t *testing.T) {
	open, closed := loopbackServer(t)
	lr := &localRunner{refused: closed}
	text, err := runProbe(t, lr, open, "--icmp=false", "--count=3", "--interval=10ms", "--node=node-1")
	if !IsFindings(err) {
		t.Fatalf("err = %v, want findings (a located fault)", err)
	}
	for _, want := range []string{"node node-1", "pod agent pod (on node-1)", "persistent refused 3/3", "Where: pod"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if len(lr.targets) != 2 || !lr.targets[0].HostNetwork || lr.targets[0].Node != "node-1" || lr.targets[1].HostNetwork || lr.targets[1].Node != "node-1" {
		t.Errorf("runner targets = %+v, want the node view then a pod, both on node-1", lr.targets)
	}
}

func TestProbeAllNodes(t *testing.T) {
	open, closed := loopbackServer(t)
	out, _ := runProbe(t, &localRunner{refused: closed}, open, "--icmp=false", "--count=2", "--interval=10ms", "--all-nodes", "-o", "json")
	var f probe.File
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var legs []string
	for _, l := range f.Runs[0].Legs {
		s := l.Label()
		if l.Error != "" {
			s += " (error)"
		}
		legs = append(legs, s)
	}
	if want := "node node-1|pod agent pod (on node-1)|node node-2 (error)|pod agent pod (on node-2) (error)"; strings.Join(legs, "|") != want {
		t.Errorf("legs = %s, want %s", strings.Join(legs, "|"), want)
	}
}

func TestProbeValidate(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "give a TARGET"},
		{[]string{"probe", "a:1", "--node", "n", "--all-nodes"}, "exclusive"},
		{[]string{"probe", "a:1", "--cluster=false"}, "nowhere to probe from"},
		{[]string{"probe", "a:99999", "--from-here"}, "want 1-65535"},
		{[]string{"probe", "a", "--udp"}, "--udp needs TARGET:PORT"},
		{[]string{"probe", "--http", "ftp://x"}, "http:// or https://"},
		{[]string{"probe", "a:1", "--count", "0"}, "--count"},
		{[]string{"probe", "a:1", "--firewall-ports", "9-1"}, "--firewall-ports"},
		{[]string{"probe", "a:1", "-o", "yaml"}, "unknown output format"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != ExitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, ExitError, tc.want)
			}
		})
	}
}

func TestProbeBesidePod(t *testing.T) {
	open, closed := loopbackServer(t)
	lr := &localRunner{refused: closed}
	out, err := runProbe(t, lr, open, "--icmp=false", "--count=2", "--interval=10ms", "--from", "shop/web-0")
	if !IsFindings(err) {
		t.Fatalf("err = %v, want findings\n%s", err, out)
	}
	if len(lr.targets) != 2 || lr.targets[1].BesidePod != "shop/web-0" || lr.targets[0].Node != "node-1" {
		t.Errorf("targets = %+v, want node-1's view and a pod beside shop/web-0", lr.targets)
	}
	if !strings.Contains(out, "pod beside shop/web-0") {
		t.Errorf("output lacks the pod leg:\n%s", out)
	}
}

func TestProbeOutsideAndCluster(t *testing.T) {
	// Works from the outside leg, refused from the node and the pod: the
	// cluster's egress.
	open, closed := loopbackServer(t)
	lr := &localRunner{refused: closed}
	lr2 := &refuseAll{localRunner: lr}
	out, err := runProbe(t, lr2, open, "--icmp=false", "--count=2", "--interval=10ms", "--outside-netns", "test-outside", "--node", "node-1")
	if !IsFindings(err) {
		t.Fatalf("err = %v, want findings\n%s", err, out)
	}
	for _, want := range []string{"outside test-outside", "ok 2/2", "Where: egress"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// refuseAll sends every cluster leg to the refusing port.
type refuseAll struct{ *localRunner }

func (r *refuseAll) Run(ctx context.Context, t runner.Target, req agent.Request) (agent.Response, error) {
	t.HostNetwork = false
	resp, err := r.localRunner.Run(ctx, t, req)
	return resp, err
}

func TestDiagnoseEgressProbe(t *testing.T) {
	open, closed := loopbackServer(t)
	snap := &snapshot.Snapshot{Nodes: []corev1.Node{{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}}}
	o := &probeOptions{egress: egressProbeFlags{targets: []string{open}, count: 2}}
	b, err := runDiagnoseEgress(context.Background(), o, &localRunner{refused: closed}, snap)
	if err != nil {
		t.Fatal(err)
	}
	var f probe.File
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Runs) != 1 || len(f.Runs[0].Legs) != 2 || f.Runs[0].Conclusion.Locus != probe.LocusPod {
		t.Errorf("file = %s, want one run with a node and a pod leg, failing in the pod", b)
	}
	if _, err := runDiagnoseEgress(context.Background(), &probeOptions{}, &localRunner{}, snap); err == nil || !strings.Contains(err.Error(), "--probe-egress") {
		t.Errorf("no targets: err = %v, want one naming --probe-egress", err)
	}
}

func TestProbeTextExplainsHTTPStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Via", "1.1 egress-proxy")
		w.WriteHeader(http.StatusBadGateway)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out, stderr, code := run(t, "probe", "--http", srv.URL+"/", "--cluster=false", "--from-here", "--icmp=false", "--count", "2", "--interval", "10ms")
	if code != ExitFindings {
		t.Fatalf("exit %d (stderr %q), want %d", code, stderr, ExitFindings)
	}
	for _, want := range []string{"persistent HTTP 502 2/2 (from a gateway/proxy)", "502 Bad Gateway: a gateway or proxy in the path", "header Via: 1.1 egress-proxy", "Where: http"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
