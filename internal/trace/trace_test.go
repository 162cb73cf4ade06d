package trace

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/iptables"
)

// The addresses of kube-proxy's tests (proxier_test.go): node IPs
// (testNodeIPs), an external client inside the LoadBalancer source range
// and one outside it.
var (
	testNodeIP                = "192.168.0.2"
	testNodeIPs               = []string{"192.168.0.2", "192.168.1.2", "192.168.99.11", "2001:db8::1", "2001:db8:1::2"}
	testExternalClient        = "203.0.113.2"
	testExternalClientBlocked = "203.0.113.130"
)

func loadTracer(t testing.TB, name string) *Tracer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := iptables.Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	var ips []netip.Addr
	for _, s := range testNodeIPs {
		ips = append(ips, netip.MustParseAddr(s))
	}
	tr, err := New(d, ips)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// packetFlowTest mirrors kube-proxy's packetFlowTest: output is what its
// tracePacket returns (DNAT destinations, or ACCEPT/DROP/REJECT, or "").
type packetFlowTest struct {
	name     string
	sourceIP string
	protocol string
	destIP   string
	destPort int
	output   string
	masq     bool
}

func runPacketFlowTests(t *testing.T, tr *Tracer, cases []packetFlowTest) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proto := tc.protocol
			if proto == "" {
				proto = "tcp"
			}
			res := tr.Trace(Packet{Src: netip.MustParseAddr(tc.sourceIP), Dst: netip.MustParseAddr(tc.destIP), Proto: proto, DstPort: tc.destPort})
			if got := res.KubeProxyOutput(); got != tc.output {
				t.Errorf("output: got %q, want %q\npath:\n%s", got, tc.output, pathText(res))
			}
			if res.Masquerade != tc.masq {
				t.Errorf("masquerade: got %v, want %v\npath:\n%s", res.Masquerade, tc.masq, pathText(res))
			}
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: got %q, want none", res.Warnings)
			}
		})
	}
}

func pathText(r Result) string {
	var b strings.Builder
	for _, s := range r.Path {
		b.WriteString("  " + s.String() + ": " + s.Text + "\n")
	}
	return b.String()
}

// TestTracePacket runs the cases of kube-proxy's TestTracePacket against
// the same rules.
func TestTracePacket(t *testing.T) {
	tr := loadTracer(t, "kubeproxy-tracepacket.txt")
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "no match", sourceIP: "10.0.0.2", destIP: "10.0.0.3", destPort: 80, output: ""},
		{name: "single endpoint", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, output: "10.180.0.1:80"},
		{name: "multiple endpoints", sourceIP: "10.0.0.2", destIP: "172.30.0.44", destPort: 80, output: "10.180.0.4:80, 10.180.0.5:80"},
		{name: "LOCAL, KUBE-MARK-MASQ", sourceIP: testNodeIP, destIP: "192.168.99.22", destPort: 80, output: "10.180.0.2:80", masq: true},
		{name: "DROP", sourceIP: testExternalClient, destIP: "192.168.99.22", destPort: 80, output: "DROP"},
		{name: "ACCEPT (NodePortHealthCheck)", sourceIP: testNodeIP, destIP: testNodeIP, destPort: 30000, output: "ACCEPT"},
		{name: "REJECT", sourceIP: "10.0.0.2", destIP: "172.30.0.46", destPort: 80, output: "REJECT"},
	})
}

// TestOverallRules traces kube-proxy's expected rules of
// TestOverallIPTablesRules (only kube-proxy's own chains: no built-in
// chains, so nat starts at KUBE-SERVICES and masquerading is read from the
// KUBE-MARK-MASQ jump, as kube-proxy's tracer does), with the scenarios
// kube-proxy's packet-flow tests check for each kind of Service.
func TestOverallRules(t *testing.T) {
	tr := loadTracer(t, "kubeproxy-overall.txt")
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to ClusterIP", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 80, output: "10.180.0.1:80"},
		{name: "endpoint to its own ClusterIP (hairpin)", sourceIP: "10.180.0.1", destIP: "172.30.0.41", destPort: 80, output: "10.180.0.1:80", masq: true},
		{name: "node to ClusterIP", sourceIP: testNodeIP, destIP: "172.30.0.41", destPort: 80, output: "10.180.0.1:80", masq: true},
		{name: "wrong port", sourceIP: "10.0.0.2", destIP: "172.30.0.41", destPort: 81, output: ""},
		{name: "udp to a tcp port", sourceIP: "10.0.0.2", protocol: "udp", destIP: "172.30.0.41", destPort: 80, output: ""},
		{name: "ClusterIP with no endpoints", sourceIP: "10.0.0.2", destIP: "172.30.0.46", destPort: 80, output: "REJECT"},
		{name: "external to NodePort", sourceIP: testExternalClient, destIP: testNodeIP, destPort: 3003, output: "10.180.0.3:80", masq: true},
		{name: "localhost to NodePort", sourceIP: "127.0.0.1", destIP: "127.0.0.1", destPort: 3003, output: "10.180.0.3:80", masq: true},
		{name: "external to two-endpoint external IP", sourceIP: testExternalClient, destIP: "192.168.99.33", destPort: 80, output: "10.180.0.4:80, 10.180.0.5:80", masq: true},
		{name: "ETP Local: pod to LB IP is short-circuited", sourceIP: "10.0.0.2", destIP: "1.2.3.4", destPort: 80, output: "10.180.0.2:80"},
		{name: "ETP Local: node to LB IP", sourceIP: testNodeIP, destIP: "1.2.3.4", destPort: 80, output: "10.180.0.2:80", masq: true},
		{name: "ETP Local: external to LB IP, no local endpoint", sourceIP: testExternalClient, destIP: "1.2.3.4", destPort: 80, output: "DROP"},
		{name: "ETP Local: external to NodePort, no local endpoint", sourceIP: testExternalClient, destIP: testNodeIP, destPort: 3001, output: "DROP"},
		{name: "ETP Local: external to external IP, no local endpoint", sourceIP: testExternalClient, destIP: "192.168.99.22", destPort: 80, output: "DROP"},
		{name: "health check node port", sourceIP: testExternalClient, destIP: testNodeIP, destPort: 30000, output: "ACCEPT"},
		{name: "source range: allowed client", sourceIP: testExternalClient, destIP: "5.6.7.8", destPort: 80, output: "10.180.0.3:80", masq: true},
		{name: "source range: blocked client", sourceIP: testExternalClientBlocked, destIP: "5.6.7.8", destPort: 80, output: "DROP"},
		{name: "source range: pod is blocked too", sourceIP: "10.0.0.2", destIP: "5.6.7.8", destPort: 80, output: "DROP"},
		{name: "session affinity ClusterIP", sourceIP: "10.0.0.2", destIP: "172.30.0.45", destPort: 80, output: "10.180.0.3:80"},
	})
}

func TestResultDetails(t *testing.T) {
	tr := loadTracer(t, "kubeproxy-tracepacket.txt")
	res := tr.Trace(Packet{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("172.30.0.44"), Proto: "tcp", DstPort: 80})
	wantDest := []Destination{{IP: "10.180.0.4", Port: 80, Probability: 0.5}, {IP: "10.180.0.5", Port: 80, Probability: 0.5}}
	for i := range res.Destinations {
		res.Destinations[i].Path = nil
	}
	if !reflect.DeepEqual(res.Destinations, wantDest) {
		t.Errorf("destinations: got %+v, want %+v", res.Destinations, wantDest)
	}
	var got []string
	for _, s := range res.Path {
		got = append(got, s.String())
	}
	want := []string{
		"nat PREROUTING rule 1 (line 58)",
		"nat KUBE-SERVICES rule 6 (line 73)",
		"nat KUBE-SVC-4SW47YFZTEDKD3PK rule 2 (line 102)",
		"nat KUBE-SEP-UKSFD7AGPMPPLUHC rule 2 (line 100)",
		"nat KUBE-SVC-4SW47YFZTEDKD3PK rule 3 (line 103)",
		"nat KUBE-SEP-C6EBXVWJJZMIWKLZ rule 2 (line 90)",
		"nat POSTROUTING rule 1 (line 60)",
		"nat KUBE-POSTROUTING rule 1 (line 61)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("path:\ngot  %q\nwant %q", got, want)
	}

	rej := tr.Trace(Packet{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("172.30.0.46"), Proto: "tcp", DstPort: 80})
	if rej.Decision == nil || rej.Decision.Chain != "KUBE-SERVICES" || rej.Decision.Table != "filter" || rej.Decision.Line != 23 {
		t.Errorf("REJECT decision: got %+v, want filter KUBE-SERVICES line 23", rej.Decision)
	}
}

func TestSessionAffinity(t *testing.T) {
	tr := loadTracer(t, "kubeproxy-overall.txt")
	res := tr.Trace(Packet{Src: netip.MustParseAddr(testExternalClient), Dst: netip.MustParseAddr("5.6.7.8"), Proto: "tcp", DstPort: 80})
	if len(res.SessionAffinity) != 1 || res.SessionAffinity[0].TimeoutSeconds != 10800 || res.SessionAffinity[0].Step.Chain != "KUBE-SVC-NUKIZ6OKUXPJNT4C" {
		t.Errorf("session affinity: got %+v, want 10800s in KUBE-SVC-NUKIZ6OKUXPJNT4C", res.SessionAffinity)
	}
}

func TestProbabilities(t *testing.T) {
	// Three endpoints as kube-proxy writes them: 1/3, then 1/2 of the rest,
	// then the rest; and an nth rule.
	dump := `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
:KUBE-SEP-3 - [0:0]
-A PREROUTING -d 10.0.0.1/32 -p udp -m udp --dport 53 -j KUBE-SVC-A
-A PREROUTING -d 10.0.0.2/32 -p udp -m udp --dport 53 -m statistic --mode nth --every 4 --packet 0 -j KUBE-SEP-1
-A PREROUTING -d 10.0.0.2/32 -p udp -m udp --dport 53 -j KUBE-SEP-2
-A KUBE-SVC-A -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-1
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2
-A KUBE-SVC-A -j KUBE-SEP-3
-A KUBE-SEP-1 -p udp -m udp -j DNAT --to-destination 10.1.0.1:5353
-A KUBE-SEP-2 -p udp -m udp -j DNAT --to-destination 10.1.0.2:5353
-A KUBE-SEP-3 -p udp -m udp -j DNAT --to-destination 10.1.0.3:5353
COMMIT
`
	d, err := iptables.ParseString("", dump)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dst  string
		want []float64
	}{
		{"10.0.0.1", []float64{0.333333, 0.333333, 0.333333}},
		{"10.0.0.2", []float64{0.25, 0.75}},
	} {
		res := tr.Trace(Packet{Src: netip.MustParseAddr("10.2.0.1"), Dst: netip.MustParseAddr(tc.dst), Proto: "udp", DstPort: 53})
		var got []float64
		for _, d := range res.Destinations {
			got = append(got, d.Probability)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: probabilities: got %v, want %v", tc.dst, got, tc.want)
		}
		if res.Verdict != DNAT || res.Destinations[0].Port != 5353 {
			t.Errorf("%s: got %+v", tc.dst, res)
		}
	}
}

func TestUnknownMatchIsNotMatching(t *testing.T) {
	dump := `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SEP-1 - [0:0]
-A PREROUTING -d 10.0.0.1/32 -p tcp -m set --match-set SOMESET src -j KUBE-SEP-1
-A PREROUTING -d 10.0.0.1/32 -p tcp -m bpf --bytecode "1,6 0 0 0" -j KUBE-SEP-1
-A PREROUTING -d 10.0.0.9/32 -p tcp -m bpf --bytecode "1,6 0 0 0" -j KUBE-SEP-1
-A KUBE-SEP-1 -p tcp -j DNAT --to-destination 10.1.0.1:80
COMMIT
`
	d, err := iptables.ParseString("", dump)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := tr.Trace(Packet{Src: netip.MustParseAddr("10.2.0.1"), Dst: netip.MustParseAddr("10.0.0.1"), Proto: "tcp", DstPort: 80})
	if res.Verdict != None {
		t.Errorf("verdict: got %s, want none", res.Verdict)
	}
	if len(res.Warnings) != 2 {
		t.Fatalf("warnings: got %q, want 2 (the rule for 10.0.0.9 does not apply)", res.Warnings)
	}
	if !strings.Contains(res.Warnings[0], `match "set" depends on state outside the dump`) || !strings.Contains(res.Warnings[1], `match "bpf" is not understood`) {
		t.Errorf("warnings: got %q", res.Warnings)
	}
}

func TestMalformedRuleNamesLine(t *testing.T) {
	d, err := iptables.ParseString("", "*nat\n:PREROUTING ACCEPT\n-A PREROUTING -p tcp -m tcp --dport http -j ACCEPT\nCOMMIT\n")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := tr.Trace(Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: "tcp", DstPort: 80})
	if res.Verdict != None || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "line 3 (nat PREROUTING rule 1): --dport: bad port") {
		t.Errorf("got verdict %s, warnings %q; want none and a warning naming line 3", res.Verdict, res.Warnings)
	}
}

func TestLoopingChainsAreBounded(t *testing.T) {
	// Two probabilistic self-jumps per level: 2^64 paths without a bound.
	d, err := iptables.ParseString("", "*nat\n:PREROUTING ACCEPT\n:A -\n-A PREROUTING -j A\n"+
		"-A A -m statistic --mode random --probability 0.5 -j A\n-A A -m statistic --mode random --probability 0.5 -j A\nCOMMIT\n")
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := New(d, nil)
	res := tr.Trace(Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: "tcp", DstPort: 80})
	found := false
	for _, w := range res.Warnings {
		if strings.Contains(w, "stopped early") || strings.Contains(w, "nest deeper") {
			found = true
		}
	}
	if !found {
		t.Errorf("warnings: got %q, want the trace to say it stopped", res.Warnings)
	}
}

// TestOlderKubeProxyRules traces the rule shapes of kube-proxy v1.20-v1.24:
// KUBE-MARK-DROP and filter KUBE-FIREWALL instead of KUBE-PROXY-FIREWALL
// and KUBE-EXTERNAL-SERVICES.
func TestOlderKubeProxyRules(t *testing.T) {
	data, err := os.ReadFile("testdata/kubeproxy-1.2x-style.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := iptables.Parse("old", data)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(d, []netip.Addr{netip.MustParseAddr("10.240.0.4")})
	if err != nil {
		t.Fatal(err)
	}
	runPacketFlowTests(t, tr, []packetFlowTest{
		{name: "pod to kubernetes ClusterIP", sourceIP: "10.244.1.8", destIP: "10.96.0.1", destPort: 443, output: "10.240.0.4:443"},
		{name: "node to kubernetes ClusterIP", sourceIP: "10.240.0.4", destIP: "10.96.0.1", destPort: 443, output: "10.240.0.4:443", masq: true},
		{name: "allowed client to LB IP", sourceIP: "203.0.113.2", destIP: "20.185.96.169", destPort: 80, output: "10.244.1.5:8080, 10.244.2.7:8080", masq: true},
		{name: "blocked client to LB IP", sourceIP: "203.0.113.130", destIP: "20.185.96.169", destPort: 80, output: "DROP"},
		{name: "external to NodePort", sourceIP: "203.0.113.130", destIP: "10.240.0.4", destPort: 30918, output: "10.244.1.5:8080, 10.244.2.7:8080", masq: true},
		{name: "ETP Local, no local endpoint: LB IP", sourceIP: "203.0.113.2", destIP: "20.185.96.170", destPort: 80, output: "DROP"},
		{name: "ETP Local, no local endpoint: NodePort", sourceIP: "203.0.113.2", destIP: "10.240.0.4", destPort: 31080, output: "DROP"},
		{name: "ETP Local: pod to LB IP goes to the ClusterIP", sourceIP: "10.244.1.8", destIP: "20.185.96.170", destPort: 80, output: "10.244.2.9:8080"},
		{name: "no endpoints", sourceIP: "10.244.1.8", destIP: "10.0.118.20", destPort: 80, output: "REJECT"},
	})
	res := tr.Trace(Packet{Src: netip.MustParseAddr("203.0.113.130"), Dst: netip.MustParseAddr("20.185.96.169"), Proto: "tcp", DstPort: 80})
	if res.Decision == nil || res.Decision.Chain != "KUBE-FIREWALL" {
		t.Errorf("decision: got %+v, want filter KUBE-FIREWALL", res.Decision)
	}
}
