package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

const kubeProxyDump = "../trace/testdata/kubeproxy-overall.txt"

func TestTracePacketJSONShape(t *testing.T) {
	out, stderr, code := run(t, "trace", "packet", "--iptables-save", kubeProxyDump,
		"--src", "10.0.0.2", "--dst", "172.30.0.44", "--dport", "80", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var keys []string
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"destinations", "masquerade", "path", "verdict"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("keys: got %v, want %v", keys, want)
	}
	if res["verdict"] != "DNAT" || res["masquerade"] != false {
		t.Errorf("verdict/masquerade: got %v/%v, want DNAT/false", res["verdict"], res["masquerade"])
	}
	dests := res["destinations"].([]any)
	want := []any{
		map[string]any{"ip": "10.180.0.4", "port": 80.0, "probability": 0.5},
		map[string]any{"ip": "10.180.0.5", "port": 80.0, "probability": 0.5},
	}
	if !reflect.DeepEqual(dests, want) {
		t.Errorf("destinations: got %v, want %v", dests, want)
	}
	step := res["path"].([]any)[0].(map[string]any)
	for _, k := range []string{"table", "chain", "rule", "line", "text"} {
		if _, ok := step[k]; !ok {
			t.Errorf("path step has no %q: %v", k, step)
		}
	}
}

func TestTracePacketText(t *testing.T) {
	out, stderr, code := run(t, "trace", "packet", "--iptables-save", kubeProxyDump,
		"--src", "203.0.113.2", "--dst", "192.168.0.2", "--dport", "3001", "--node-ip", "192.168.0.2")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"verdict: DROP",
		"by filter KUBE-EXTERNAL-SERVICES rule 3 (line 21)",
		"nat KUBE-NODEPORTS #2 -> KUBE-EXT-GNZBNJ2PO5MGZ6GT",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTracePacketErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte("*nat\n:A -\n-A A -m tcp --dport\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad src", []string{"--iptables-save", kubeProxyDump, "--src", "x", "--dst", "1.2.3.4", "--dport", "80"}, `--src "x" is not an IP address`},
		{"bad proto", []string{"--iptables-save", kubeProxyDump, "--src", "1.1.1.1", "--dst", "1.2.3.4", "--dport", "80", "--proto", "icmp"}, `--proto "icmp"`},
		{"parse error names line", []string{"--iptables-save", bad, "--src", "1.1.1.1", "--dst", "1.2.3.4", "--dport", "80"}, bad + ":3: option --dport needs an argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, append([]string{"trace", "packet"}, tc.args...)...)
			if code != ExitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("got exit %d, stderr %q; want exit %d with %q", code, stderr, ExitError, tc.want)
			}
		})
	}
}

// traceBundle writes the kube-proxy analyzer's "overall" scenario (kube-proxy's
// TestOverallIPTablesRules Services and rules) as a bundle.
func traceBundle(t *testing.T) string {
	t.Helper()
	s, err := snapshottest.Load("../analyze/kubeproxy/testdata/golden/overall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dump, err := os.ReadFile("../analyze/kubeproxy/testdata/golden/overall.nodes/test-node/iptables-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	s.SetFile("nodes/test-node/iptables-save.txt", dump)
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := s.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTraceServiceFromBundle(t *testing.T) {
	b := traceBundle(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"clusterip two endpoints", []string{"svc4", "-n", "ns4"}, []string{
			"Service ns4/svc4 port p80 (80/TCP) via clusterip, on node test-node",
			"packet: tcp 192.168.0.2 -> 172.30.0.44:80 (sent by the node)",
			"-> 10.180.0.5:80   50.0%  on node test-node",
			"verdict: DNAT",
			"confirm on node test-node:\n  iptables -t nat -nL KUBE-SVC-4SW47YFZTEDKD3PK --line-numbers\n",
		}},
		{"no endpoints", []string{"svc6", "-n", "ns6"}, []string{"verdict: REJECT", "finding: KPX001"}},
		{"etp local nodeport", []string{"svc2", "-n", "ns2", "--via", "nodeport"}, []string{"packet: tcp 203.0.113.1 -> 192.168.0.2:3001", "verdict: DROP", "finding: KPX002"}},
		{"source ranges blocked", []string{"svc5", "-n", "ns5", "--via", "loadbalancer", "--from", "203.0.113.130"}, []string{"verdict: DROP", "finding: KPX004", "203.0.113.0/25"}},
		{"source ranges allowed, affinity", []string{"svc5", "-n", "ns5", "--via", "loadbalancer", "--from", "203.0.113.2"}, []string{"-> 10.180.0.3:80  100.0%", "session affinity: ClientIP, 10800s", "masquerade: yes"}},
		{"from a pod", []string{"svc1", "-n", "ns1", "--from", "pod/client"}, []string{"packet: tcp 10.0.0.2 -> 172.30.0.41:80\n", "-> 10.180.0.1:80  100.0%"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := run(t, append([]string{"trace", "service", "--bundle", b}, tc.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestTraceServiceJSONAndErrors(t *testing.T) {
	b := traceBundle(t)
	out, stderr, code := run(t, "trace", "service", "svc4", "-n", "ns4", "--bundle", b, "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var st struct {
		Node      string `json:"node"`
		Endpoints []struct {
			IP   string `json:"ip"`
			Node string `json:"node"`
		} `json:"endpoints"`
		Result struct {
			Verdict string `json:"verdict"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if st.Node != "test-node" || st.Result.Verdict != "DNAT" || len(st.Endpoints) != 2 || st.Endpoints[1].Node != "test-node" {
		t.Errorf("got %+v", st)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope", "-n", "ns4"}, "service ns4/nope not found"},
		{[]string{"svc4", "-n", "ns4", "--via", "bogus"}, `--via "bogus"`},
		{[]string{"svc1", "-n", "ns1", "--via", "loadbalancer"}, "has no load balancer IP"},
		{[]string{"svc4", "-n", "ns4", "--node", "other"}, "no iptables-save for node other"},
	} {
		_, stderr, code := run(t, append([]string{"trace", "service", "--bundle", b}, tc.args...)...)
		if code != ExitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: got exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestTracePacketFromStdin(t *testing.T) {
	dump, err := os.ReadFile(kubeProxyDump)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := NewRootCommand("netdoctor", genericiooptions.IOStreams{In: bytes.NewReader(dump), Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{"trace", "packet", "--iptables-save", "-", "--src", "10.0.0.2", "--dst", "172.30.0.46", "--dport", "80"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v (stderr %q)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "verdict: REJECT") {
		t.Errorf("got:\n%s\nwant verdict: REJECT", out.String())
	}
}
