package kubeproxy

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
	"github.com/netdoctor/netdoctor/internal/trace"
)

// loadScenario reads testdata/golden/NAME.yaml and the node artifacts in
// testdata/golden/NAME.nodes/<node>/<file>.
func loadScenario(t *testing.T, yamlFile string) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshottest.Load(yamlFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSuffix(yamlFile, ".yaml") + ".nodes"
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		s.SetFile("nodes/"+filepath.ToSlash(rel), data)
		return nil
	})
	return s
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			r := Analyze(loadScenario(t, file))
			got, err := json.MarshalIndent(struct {
				Findings []finding.Finding `json:"findings"`
				Checks   []finding.Check   `json:"checks"`
			}{r.Findings, r.Checks}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			gf := strings.TrimSuffix(file, ".yaml") + ".golden.json"
			if update := flag.Lookup("update"); update != nil && update.Value.String() == "true" {
				if err := os.WriteFile(gf, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", gf, got, want)
			}
		})
	}
}

// TestCodes pins the codes each scenario must report, independent of the
// golden files' wording.
func TestCodes(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		want     []string // code subject
		checks   map[string]finding.Status
	}{
		{"overall", []string{"KPX001 Service/ns6/svc6", "KPX002 Service/ns2/svc2", "KPX004 Service/ns5/svc5"},
			map[string]finding.Status{CheckMode: finding.Passed, CheckNoEndpoints: finding.Failed, CheckLocalPolicy: finding.Failed, CheckSync: finding.Passed, CheckSourceRanges: finding.Failed}},
		{"stale", []string{"KPX001 Service/ns6/svc6", "KPX002 Service/ns2/svc2", "KPX003 Service/ns1/svc1", "KPX003 Service/ns3/svc3", "KPX003 Service/ns6/svc6", "KPX004 Service/ns5/svc5"},
			map[string]finding.Status{CheckSync: finding.Failed}},
		{"ipvs", nil, map[string]finding.Status{CheckMode: finding.Skipped, CheckNoEndpoints: finding.Skipped}},
		{"no-dumps", nil, map[string]finding.Status{CheckMode: finding.Skipped, CheckSync: finding.Skipped}},
		{"bad-dump", nil, map[string]finding.Status{CheckMode: finding.Error, CheckNoEndpoints: finding.Skipped}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := Analyze(loadScenario(t, "testdata/golden/"+tc.scenario+".yaml"))
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Code+" "+f.Subjects[0].String())
			}
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("findings: got %q, want %q", got, tc.want)
			}
			status := map[string]finding.Status{}
			for _, c := range r.Checks {
				status[c.Name] = c.Status
			}
			for name, want := range tc.checks {
				if status[name] != want {
					t.Errorf("check %s: got %q, want %q (checks %+v)", name, status[name], want, r.Checks)
				}
			}
		})
	}
}

// TestLabBundle runs on a bundle that 'netdoctor collect --node-data'
// wrote from the lab: three nodes' real iptables-save from kube-proxy
// v1.33.13 in iptables mode, for Services web (two endpoints), web-sticky
// (ClientIP affinity), api-local (NodePort, externalTrafficPolicy Local,
// its endpoint on vmss000000) and orders (no endpoints).
func TestLabBundle(t *testing.T) {
	s, err := snapshot.Read("testdata/lab-bundle")
	if err != nil {
		t.Fatal(err)
	}
	r := Analyze(s)
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Code+" "+f.Subjects[0].String()+" "+string(f.Severity))
	}
	sort.Strings(got)
	want := []string{"KPX001 Service/kpx-real/orders critical", "KPX002 Service/kpx-real/api-local warning"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings: got %q, want %q", got, want)
	}
	for _, c := range r.Checks {
		if c.Name == CheckSync && c.Status != finding.Passed {
			t.Errorf("%s: got %s (%s), want passed: the lab's kube-proxy is in sync", c.Name, c.Status, c.Reason)
		}
		if c.Name == CheckMode && (c.Status != finding.Passed || !strings.Contains(c.Reason, "3 node(s)")) {
			t.Errorf("%s: got %s (%s), want passed on 3 nodes", c.Name, c.Status, c.Reason)
		}
	}

	// The web Service: both endpoints, one half each, on every node.
	svc := s.Index().Service("kpx-real", "web")
	nodes, skipped := LoadNodes(s)
	if len(nodes) != 3 || len(skipped) != 0 {
		t.Fatalf("nodes: got %d (skipped %+v), want 3", len(nodes), skipped)
	}
	for _, n := range nodes {
		_, res, err := TraceService(n, svc, &svc.Spec.Ports[0], ViaClusterIP, netip.MustParseAddr("10.244.2.9"), false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != "DNAT" || len(res.Destinations) != 2 || res.Destinations[0].Probability != 0.5 || len(res.Warnings) != 0 {
			t.Errorf("node %s: got %+v", n.Name, res)
		}
	}
	sticky := s.Index().Service("kpx-real", "web-sticky")
	_, res, _ := TraceService(nodes[0], sticky, &sticky.Spec.Ports[0], ViaClusterIP, netip.MustParseAddr("10.244.2.9"), false)
	if len(res.SessionAffinity) != 2 || res.SessionAffinity[0].TimeoutSeconds != 10800 {
		t.Errorf("web-sticky affinity: got %+v, want two endpoints' rcheck rules with 10800s", res.SessionAffinity)
	}
}

func TestSyncMetrics(t *testing.T) {
	data, err := os.ReadFile("testdata/kube-proxy-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := readSyncMetrics(data)
	if !ok {
		t.Fatal("no sync timestamps read")
	}
	if got, want := m.lastSync.Format(time.RFC3339Nano), "2026-11-22T00:25:05.420615434Z"; got != want {
		t.Errorf("last sync: got %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name     string
		now      time.Time
		failures float64
		want     int
	}{
		{"just collected", m.lastQueued.Add(3 * time.Second), 0, 0},
		{"queued sync waiting 10 minutes", m.lastQueued.Add(10 * time.Minute), 0, 1},
		{"restore failures", m.lastQueued.Add(time.Second), 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mm := m
			mm.restoreFailures = tc.failures
			if got := mm.problems(tc.now); len(got) != tc.want {
				t.Errorf("problems: got %q, want %d", got, tc.want)
			}
		})
	}

	// In the analyzer: the lab bundle plus these metrics, read 10 minutes
	// after the queued sync.
	s, err := snapshot.Read("testdata/lab-bundle")
	if err != nil {
		t.Fatal(err)
	}
	s.SetFile("nodes/aks-nodepool1-12345678-vmss000001/"+FileKubeProxyMetrics, data)
	s.Manifest.CollectedAt = m.lastQueued.Add(10 * time.Minute)
	r := Analyze(s)
	found := false
	for _, f := range r.Findings {
		if f.Code == "KPX003" && f.Subjects[0] == (finding.Subject{Kind: "Node", Name: "aks-nodepool1-12345678-vmss000001"}) {
			found = true
		}
	}
	if !found {
		t.Errorf("no KPX003 for the node whose kube-proxy is not syncing: %+v", r.Findings)
	}
}

// TestClassifyOlderRules: the codes come out the same on kube-proxy's
// pre-1.25 rules (KUBE-XLB, KUBE-MARK-DROP, KUBE-FIREWALL).
func TestClassifyOlderRules(t *testing.T) {
	data, err := os.ReadFile("../../trace/testdata/kubeproxy-1.2x-style.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := iptables.Parse("old", data)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := trace.New(d, []netip.Addr{netip.MustParseAddr("10.240.0.4")})
	for _, tc := range []struct {
		src, dst string
		port     int
		want     string
	}{
		{"10.244.1.8", "10.0.118.20", 80, "KPX001"},
		{"203.0.113.2", "10.240.0.4", 31080, "KPX002"},
		{"203.0.113.2", "20.185.96.170", 80, "KPX002"},
		{"203.0.113.130", "20.185.96.169", 80, "KPX004"},
		{"203.0.113.2", "20.185.96.169", 80, ""},
	} {
		res := tr.Trace(trace.Packet{Src: netip.MustParseAddr(tc.src), Dst: netip.MustParseAddr(tc.dst), Proto: "tcp", DstPort: tc.port})
		if got := Classify(res); got != tc.want {
			t.Errorf("%s -> %s:%d: got %q, want %q (verdict %s)", tc.src, tc.dst, tc.port, got, tc.want, res.Verdict)
		}
	}
}

func TestModeFromConfigMap(t *testing.T) {
	for _, tc := range []struct {
		cm, conf, want string
	}{
		{"kube-proxy", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: \"ipvs\"\n", ModeIPVS},
		{"kube-proxy-config", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n", ModeNFTables},
		{"kube-proxy", "kind: KubeProxyConfiguration\nmode: \"\"\n", ModeIPTables},
	} {
		s, err := snapshottest.FromYAML("cm", []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: `+tc.cm+`, namespace: kube-system}
data:
  config.conf: |
`+indent(tc.conf)))
		if err != nil {
			t.Fatal(err)
		}
		got, src := detectMode(s, "n1", []byte(":KUBE-SERVICES - [0:0]\n-A X -j KUBE-SVC-A\n"))
		if got != tc.want || !strings.Contains(src, tc.cm) {
			t.Errorf("%s: got %s (%s), want %s", tc.cm, got, src, tc.want)
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
