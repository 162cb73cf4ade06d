package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/nodedata"
)

func TestHandle(t *testing.T) {
	table := map[string]Handler{
		"echo": func(ctx context.Context, spec json.RawMessage) (any, error) { return map[string]any{"spec": spec}, nil },
		"fail": func(ctx context.Context, spec json.RawMessage) (any, error) {
			return map[string]int{"partial": 1}, errors.New("half done")
		},
	}
	tests := []struct {
		name       string
		req        Request
		wantResult string
		wantError  string
	}{
		{"echo", Request{Kind: "echo", Spec: json.RawMessage(`{"a":1}`)}, `{"spec":{"a":1}}`, ""},
		{"partial", Request{Kind: "fail"}, `{"partial":1}`, "half done"},
		{"unknown", Request{Kind: "nope"}, "", `unknown request kind "nope" (this agent knows echo, fail)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Handle(context.Background(), table, tt.req)
			if string(got.Result) != tt.wantResult || got.Error != tt.wantError || got.Kind != tt.req.Kind {
				t.Errorf("Handle = kind %q result %s error %q, want %q %s %q", got.Kind, got.Result, got.Error, tt.req.Kind, tt.wantResult, tt.wantError)
			}
		})
	}
}

func TestRunBadRequest(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), strings.NewReader("{not json"), &out)
	if err == nil {
		t.Fatal("Run accepted a bad request")
	}
	var resp Response
	if jerr := json.Unmarshal(out.Bytes(), &resp); jerr != nil || !strings.HasPrefix(resp.Error, "read agent request:") {
		t.Errorf("output %q (%v), want one Response naming the bad request", out.String(), jerr)
	}
}

func TestRunUnknownKindWritesOneLine(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), strings.NewReader(`{"kind":"nope"}`), &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("output has %d lines, want 1: %q", n, out.String())
	}
}

// TestNodeDataInNamespace runs the node-data handler for real, with the
// machine's own iptables, ip and conntrack tools, inside a throw-away
// network namespace set up like a small node.
func TestNodeDataInNamespace(t *testing.T) {
	if os.Getenv("ND_AGENT_HELPER") == "1" {
		// inside the namespace: behave like `netdoctor agent`
		if err := Run(context.Background(), strings.NewReader(`{"kind":"node-data","spec":{"conntrackIntervalSeconds":0.2}}`), os.Stdout); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	for _, tool := range []string{"unshare", "ip", "iptables-save", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	setup := `set -e
ip link set lo up
ip link add name eth0 type veth peer name eth0p
ip addr add 10.240.0.4/16 dev eth0
ip link set eth0 up; ip link set eth0p up
ip route add 10.244.1.0/24 via 10.240.0.5 dev eth0
iptables -t nat -N KUBE-SERVICES
iptables -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
exec "$0" -test.run '^TestNodeDataInNamespace$'
`
	cmd := exec.Command("unshare", "-n", "sh", "-c", setup, os.Args[0])
	cmd.Env = append(os.Environ(), "ND_AGENT_HELPER=1", "NODE_NAME=lab-node-0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("agent in namespace: %v\n%s", err, stderr.String())
	}
	var resp Response
	if err := json.Unmarshal(bytes.TrimSpace(out), &resp); err != nil {
		t.Fatalf("agent output is not one Response: %v\n%s", err, out)
	}
	if resp.Kind != KindNodeData || resp.Node != "lab-node-0" || resp.Error != "" {
		t.Fatalf("response kind=%q node=%q error=%q", resp.Kind, resp.Node, resp.Error)
	}
	var res NodeDataResult
	if err := json.Unmarshal(resp.Result, &res); err != nil {
		t.Fatal(err)
	}
	f := res.Files
	checks := []struct{ file, want string }{
		{nodedata.FileIptablesSave, ":KUBE-SERVICES"},
		{nodedata.FileIptablesSave, `-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
		{nodedata.FileIPRoute, "10.244.1.0/24 via 10.240.0.5 dev eth0"},
		{nodedata.FileIPAddr, "inet 10.240.0.4/16"},
		{nodedata.FileIPRule, "from all lookup main"},
		{nodedata.FileSysctls, `"net.ipv4.ip_forward"`},
		{nodedata.FileKubeProxyMode, "iptables (inferred"},
	}
	for _, c := range checks {
		if !strings.Contains(f[c.file], c.want) {
			t.Errorf("%s does not contain %q:\n%s", c.file, c.want, f[c.file])
		}
	}
	if _, err := nodedata.ParseRoutes(nodedata.FileIPRoute, []byte(f[nodedata.FileIPRoute])); err != nil {
		t.Errorf("collected routes do not parse: %v", err)
	}
	if s, ok := f[nodedata.FileConntrackStats]; ok {
		if _, err := nodedata.ParseConntrackS(nodedata.FileConntrackStats, []byte(s)); err != nil {
			t.Errorf("collected conntrack -S does not parse: %v", err)
		}
	} else if s, ok := f[nodedata.FileConntrackStatsProc]; ok {
		if _, err := nodedata.ParseProcConntrackStat(nodedata.FileConntrackStatsProc, []byte(s)); err != nil {
			t.Errorf("collected nf_conntrack stat does not parse: %v", err)
		}
	} else {
		t.Errorf("no conntrack statistics collected; errors: %s", f[nodedata.FileErrors])
	}
	if f[nodedata.SecondSample(nodedata.FileConntrackStats)] == "" && f[nodedata.SecondSample(nodedata.FileConntrackStatsProc)] == "" {
		t.Errorf("no second conntrack sample; files: %v", keys(f))
	}
	var meta nodedata.Meta
	if err := json.Unmarshal([]byte(f[nodedata.FileMeta]), &meta); err != nil || meta.ConntrackIntervalSeconds < 0.2 {
		t.Errorf("agent.json = %s (%v), want an interval of at least 0.2s", f[nodedata.FileMeta], err)
	}
	// no kubelet runs here: said so, not silently empty
	if !strings.Contains(f[nodedata.FileErrors], nodedata.FileKubelet) {
		t.Errorf("errors.json does not explain the missing kubelet.json: %s", f[nodedata.FileErrors])
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
