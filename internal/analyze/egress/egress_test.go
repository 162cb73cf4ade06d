package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// -update re-records testdata/*.json from real probes against servers on
// 127.0.0.1 and rewrites the golden outputs.
var update = flag.Bool("update", false, "re-record probe observations and golden files")

// scenarios are probe files recorded from real probes (see record) and the
// node artifacts that go with them.
var scenarios = []struct {
	name  string
	files map[string]string
}{
	{name: "healthy"},
	{name: "remote-down"},
	{name: "remote-refused-no-outside"},
	{name: "egress-blocked"},
	{name: "http-proxy-denied"},
	{name: "http-bad-gateway"},
	{name: "tls-inspection"},
	{name: "ephemeral-ports", files: map[string]string{
		"nodes/node-1/sysctls.json": `{"net.ipv4.ip_local_port_range": "1024\t65535", "net.ipv4.ip_forward": "1"}`,
	}},
	{name: "ephemeral-ports-snat", files: map[string]string{
		"nodes/node-1/sysctls.json":      `{"net.ipv4.ip_local_port_range": "32768\t60999"}`,
		"nodes/node-1/iptables-save.txt": "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-POSTROUTING - [0:0]\n-A POSTROUTING -j KUBE-POSTROUTING\n-A KUBE-POSTROUTING -j MASQUERADE --to-ports 1024-29999 --random-fully\nCOMMIT\n",
	}},
	{name: "ephemeral-ports-unconfirmed"},
	{name: "ephemeral-ports-observed"},
	{name: "ephemeral-ports-in-range", files: map[string]string{
		"nodes/node-1/sysctls.json": `{"net.ipv4.ip_local_port_range": "32768\t60999"}`,
	}},
}

func TestProbesGolden(t *testing.T) {
	if *update {
		record(t)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", sc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			s := &snapshot.Snapshot{}
			s.SetFile(probe.FilePath, data)
			for p, c := range sc.files {
				s.SetFile(p, []byte(c))
			}
			got, err := json.MarshalIndent(Probes(s), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", sc.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("got:\n%s\nwant (%s):\n%s", got, golden, want)
			}
		})
	}
}

func TestProbesCodes(t *testing.T) {
	tests := []struct {
		scenario string
		want     string // codes and severities, sorted
	}{
		{"healthy", ""},
		{"remote-down", "EGR006/warning"},
		{"remote-refused-no-outside", "EGR006/warning"},
		{"egress-blocked", ""},
		{"http-proxy-denied", "EGR007/warning"},
		{"http-bad-gateway", "EGR007/warning"},
		{"tls-inspection", "EGR007/warning"},
		{"ephemeral-ports", "EGR004/critical"},
		{"ephemeral-ports-snat", "EGR004/critical"},
		{"ephemeral-ports-unconfirmed", "EGR004/warning"},
		{"ephemeral-ports-observed", "EGR004/critical"},
		{"ephemeral-ports-in-range", ""},
	}
	files := map[string]map[string]string{}
	for _, sc := range scenarios {
		files[sc.name] = sc.files
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.scenario+".json"))
			if err != nil {
				t.Fatal(err)
			}
			s := &snapshot.Snapshot{}
			s.SetFile(probe.FilePath, data)
			for p, c := range files[tc.scenario] {
				s.SetFile(p, []byte(c))
			}
			res := Probes(s)
			var got []string
			for _, f := range res.Findings {
				got = append(got, fmt.Sprintf("%s/%s", f.Code, f.Severity))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("findings = %q, want %q", strings.Join(got, " "), tc.want)
			}
			for _, c := range res.Checks {
				if c.Status == finding.Skipped || c.Status == finding.Error {
					t.Errorf("check %s %s: %s", c.Name, c.Status, c.Reason)
				}
			}
		})
	}
}

func TestEphemeralPortsNamesThePorts(t *testing.T) {
	data, err := os.ReadFile("testdata/ephemeral-ports.json")
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshot.Snapshot{}
	s.SetFile(probe.FilePath, data)
	s.SetFile("nodes/node-1/sysctls.json", []byte(`{"net.ipv4.ip_local_port_range": "1024\t65535"}`))
	res := Probes(s)
	if len(res.Findings) != 1 {
		t.Fatalf("findings = %+v, want one EGR004", res.Findings)
	}
	f := res.Findings[0]
	ev := strings.Join(f.Evidence, "\n")
	for _, want := range []string{"1024-32767 (31744 ports", "32768-65535", "node node-1"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
	if f.Subjects[0] != (finding.Subject{Kind: "Node", Name: "node-1"}) {
		t.Errorf("subject = %v, want Node/node-1", f.Subjects[0])
	}
	rem := strings.Join(f.Remediation, "\n")
	if !strings.Contains(rem, "ip_local_port_range=\"32768 60999\"") || !strings.Contains(rem, "widen the firewall") {
		t.Errorf("remediation lacks the two fixes of seed 004:\n%s", rem)
	}

	// An overridden firewall range that covers the node's ports: no finding.
	var pf probe.File
	if err := json.Unmarshal(data, &pf); err != nil {
		t.Fatal(err)
	}
	pf.FirewallReturnPorts = "1024-65535"
	b, _ := json.Marshal(pf)
	s.SetFile(probe.FilePath, b)
	if res := Probes(s); len(res.Findings) != 0 {
		t.Errorf("with firewall range 1024-65535: findings = %+v, want none", res.Findings)
	}
}

func TestProbesMissingAndBroken(t *testing.T) {
	s := &snapshot.Snapshot{}
	res := Probes(s)
	if len(res.Findings) != 0 || len(res.Checks) != 4 {
		t.Fatalf("got %+v, want 4 skipped checks", res)
	}
	for _, c := range res.Checks {
		if c.Status != finding.Skipped || !strings.Contains(c.Reason, "probes/egress.json") {
			t.Errorf("check %+v, want skipped naming the file", c)
		}
	}
	tests := []struct {
		name, data, want string
	}{
		{"syntax", "{\n  \"schemaVersion\": \"netdoctor.probes/v1\",\n  \"runs\": [\n    {,\n  ]\n}", "probes/egress.json:4:"},
		{"type", "{\n  \"schemaVersion\": \"netdoctor.probes/v1\",\n  \"runs\": 7\n}", "probes/egress.json:3:"},
		{"schema", `{"schemaVersion": "other/v9", "runs": []}`, `schemaVersion "other/v9"`},
		{"firewall range", `{"schemaVersion": "netdoctor.probes/v1", "firewallReturnPorts": "65535-1", "runs": []}`, "firewallReturnPorts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &snapshot.Snapshot{}
			s.SetFile(probe.FilePath, []byte(tc.data))
			res := Probes(s)
			if len(res.Checks) != 1 || res.Checks[0].Status != finding.Error || !strings.Contains(res.Checks[0].Reason, tc.want) {
				t.Errorf("checks = %+v, want one error containing %q", res.Checks, tc.want)
			}
		})
	}
}

func TestPortRangeOutside(t *testing.T) {
	fw := portRange{32768, 65535}
	tests := []struct {
		r    portRange
		want string
	}{
		{portRange{1024, 65535}, "[1024-32767]"},
		{portRange{32768, 60999}, "[]"},
		{portRange{1024, 2047}, "[1024-2047]"},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(tc.r.outside(fw)); got != tc.want {
			t.Errorf("%s outside %s = %s, want %s", tc.r, fw, got, tc.want)
		}
	}
	if got := fmt.Sprint(portRange{1000, 70000}.outside(portRange{2000, 3000})); got != "[1000-1999 3001-70000]" {
		t.Errorf("both sides: got %s", got)
	}
}

// record runs real probes against servers on 127.0.0.1 and writes each
// scenario's probes/egress.json, labelling the legs as the places they
// stand for (the probes are real; only the place names are assigned).
func record(t *testing.T) {
	srv := newServers(t)
	at := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	run := func(p *probe.Prober, specs ...probe.Spec) ([]probe.Series, []probe.Comparison) {
		rep, err := p.Do(context.Background(), probe.Request{Probes: specs})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Series, rep.Comparisons
	}
	tcp := func(addr string) probe.Spec {
		return probe.Spec{Kind: probe.KindTCP, Target: addr, Count: 10, Interval: probe.Duration(5 * time.Millisecond), Timeout: probe.Duration(200 * time.Millisecond)}
	}
	udp := func(addr string) probe.Spec {
		s := tcp(addr)
		s.Kind = probe.KindUDP
		return s
	}
	httpSpec := func(url string) probe.Spec {
		s := tcp(url)
		s.Kind, s.Count = probe.KindHTTP, 3
		return s
	}
	plain := probe.New(false)
	flaky := probe.New(false)
	flaky.Dialer = &tcpFlaky{refusedEvery: 3, blackhole: srv.blackhole}
	leg := func(place probe.Place, name, node string, p *probe.Prober, specs ...probe.Spec) probe.Leg {
		s, c := run(p, specs...)
		return probe.Leg{Place: place, Name: name, Node: node, Series: s, Comparisons: c}
	}
	write := func(name, target string, legs ...probe.Leg) {
		f := probe.File{SchemaVersion: probe.FileSchema, Runs: []probe.Run{{Target: target, At: at, Legs: legs, Conclusion: probe.Conclude(legs)}}}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(srv.echo), []byte("203.0.113.10:5000"))
		if err := os.WriteFile(filepath.Join("testdata", name+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	three := func(mk func(place probe.Place, name, node string) probe.Leg) []probe.Leg {
		return []probe.Leg{mk(probe.PlaceOutside, "lab-outside", ""), mk(probe.PlaceNode, "node-1", "node-1"), mk(probe.PlacePod, "agent pod", "node-1")}
	}
	write("healthy", srv.open, three(func(pl probe.Place, n, node string) probe.Leg {
		return leg(pl, n, node, plain, tcp(srv.open), httpSpec(srv.http+"/ok"))
	})...)
	write("remote-down", srv.closed, three(func(pl probe.Place, n, node string) probe.Leg {
		return leg(pl, n, node, plain, tcp(srv.closed))
	})...)
	write("remote-refused-no-outside", srv.closed, three(func(pl probe.Place, n, node string) probe.Leg {
		return leg(pl, n, node, plain, tcp(srv.closed))
	})[1:]...)
	write("egress-blocked", srv.blackhole, leg(probe.PlaceOutside, "lab-outside", "", plain, tcp(srv.open)),
		leg(probe.PlaceNode, "node-1", "node-1", plain, tcp(srv.blackhole)),
		leg(probe.PlacePod, "agent pod", "node-1", plain, tcp(srv.blackhole)))
	write("http-proxy-denied", srv.http, leg(probe.PlaceOutside, "lab-outside", "", plain, tcp(srv.open), httpSpec(srv.http+"/ok")),
		leg(probe.PlaceNode, "node-1", "node-1", plain, tcp(srv.open), httpSpec(srv.http+"/squid-denied")),
		leg(probe.PlacePod, "agent pod", "node-1", plain, tcp(srv.open), httpSpec(srv.http+"/squid-denied")))
	write("http-bad-gateway", srv.http, three(func(pl probe.Place, n, node string) probe.Leg {
		return leg(pl, n, node, plain, httpSpec(srv.http+"/bad-gateway"))
	})...)
	write("tls-inspection", srv.tls, three(func(pl probe.Place, n, node string) probe.Leg {
		return leg(pl, n, node, plain, httpSpec(srv.tls+"/"))
	})[1:]...)
	eph := func(pl probe.Place, n, node string) probe.Leg {
		if pl == probe.PlaceOutside {
			return leg(pl, n, node, plain, tcp(srv.echo), udp(srv.echo))
		}
		return leg(pl, n, node, flaky, tcp(srv.echo), udp(srv.echo))
	}
	legs := three(eph)
	for _, name := range []string{"ephemeral-ports", "ephemeral-ports-snat", "ephemeral-ports-unconfirmed", "ephemeral-ports-in-range"} {
		write(name, "203.0.113.10:5000", legs...)
	}
	recordObserved(t, at)
}

// recordObserved records seed 004 reproduced in a network namespace of its
// own: local ports 32738-32797 (straddling 32768) and a firewall that drops
// SYN-ACKs to ports below 32768. The failed connects' source ports are the
// evidence; no node data is given.
func recordObserved(t *testing.T, at time.Time) {
	if os.Geteuid() != 0 {
		t.Fatal("-update needs root to record ephemeral-ports-observed (network namespaces, iptables)")
	}
	name := fmt.Sprintf("ndegress-rec-%d", os.Getpid())
	sh := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	sh("ip", "netns", "add", name)
	defer exec.Command("ip", "netns", "del", name).Run()
	sh("ip", "-n", name, "link", "set", "lo", "up")
	sh("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_local_port_range=32738 32797")
	sh("ip", "netns", "exec", name, "iptables", "-A", "INPUT", "-p", "tcp", "--tcp-flags", "SYN,ACK", "SYN,ACK", "!", "--dport", "32768:65535", "-j", "DROP")
	target := "127.0.0.1:40007"
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	if err := probe.InNetns(probe.NetnsPath(name), func() error {
		ln, err := net.Listen("tcp", target)
		if err != nil {
			return err
		}
		closers = append(closers, func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		pc, err := net.ListenPacket("udp", target)
		if err != nil {
			return err
		}
		closers = append(closers, func() { pc.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err := probe.NewInNetns(name, false)
	if err != nil {
		t.Fatal(err)
	}
	tcp := probe.Spec{Kind: probe.KindTCP, Target: target, Count: 12, Interval: probe.Duration(time.Millisecond), Timeout: probe.Duration(300 * time.Millisecond)}
	udp := tcp
	udp.Kind = probe.KindUDP
	var legs []probe.Leg
	for _, pl := range []probe.Place{probe.PlaceNode, probe.PlacePod} {
		rep, err := p.Do(context.Background(), probe.Request{Probes: []probe.Spec{tcp, udp}})
		if err != nil {
			t.Fatal(err)
		}
		n := "node-1"
		if pl == probe.PlacePod {
			n = "agent pod"
		}
		legs = append(legs, probe.Leg{Place: pl, Name: n, Node: "node-1", Series: rep.Series, Comparisons: rep.Comparisons})
	}
	f := probe.File{SchemaVersion: probe.FileSchema, Runs: []probe.Run{{Target: target, At: at, Legs: legs, Conclusion: probe.Conclude(legs)}}}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "ephemeral-ports-observed.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

type servers struct {
	open, closed, blackhole, echo, http, tls string
}

func newServers(t *testing.T) servers {
	var s servers
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
	s.open = ln.Addr().String()
	s.echo = s.open
	pc, err := net.ListenPacket("udp", s.open)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	s.closed = cl.Addr().String()
	cl.Close()
	s.blackhole = fullBacklog(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/squid-denied", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "squid/6.6")
		w.Header().Set("X-Squid-Error", "ERR_ACCESS_DENIED 0")
		w.Header().Set("Via", "1.1 proxy (squid/6.6)")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<title>ERROR: The requested URL could not be retrieved</title><p>Access control configuration prevents your request from being allowed at this time.</p>"))
	})
	mux.HandleFunc("/bad-gateway", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "envoy")
		w.WriteHeader(http.StatusBadGateway)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.http = hs.URL
	ts := httptest.NewTLSServer(mux)
	t.Cleanup(ts.Close)
	s.tls = ts.URL
	return s
}

// fullBacklog is a TCP listener whose accept queue is full, so further SYNs
// are dropped and connects time out.
func fullBacklog(t *testing.T) string {
	lc := net.ListenConfig{}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	// net.Listen uses somaxconn; fill it until a connect hangs.
	for i := 0; i < 5000; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("could not fill the accept queue of %s", addr)
	return ""
}

// tcpFlaky sends every n-th TCP dial to a blackholed listener (it times
// out, as when a reply is filtered) and leaves UDP alone.
type tcpFlaky struct {
	n            atomic.Int32
	refusedEvery int32
	blackhole    string
}

func (f *tcpFlaky) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "tcp" && f.n.Add(1)%f.refusedEvery == 0 {
		addr = f.blackhole
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func TestRemoteEndOutsideOnly(t *testing.T) {
	data, err := os.ReadFile("testdata/remote-down.json")
	if err != nil {
		t.Fatal(err)
	}
	var f probe.File
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	legs := f.Runs[0].Legs
	f.Runs[0].Legs = legs[:1] // the outside leg only
	for _, l := range legs[1:] {
		f.Runs[0].Legs = append(f.Runs[0].Legs, probe.Leg{Place: l.Place, Name: l.Name, Node: l.Node, Error: "image pull failed"})
	}
	b, _ := json.Marshal(f)
	s := &snapshot.Snapshot{}
	s.SetFile(probe.FilePath, b)
	res := Probes(s)
	if len(res.Findings) != 1 || res.Findings[0].Code != "EGR006" {
		t.Fatalf("findings %+v, want EGR006", res.Findings)
	}
	fnd := res.Findings[0]
	if !strings.Contains(fnd.Explanation, "no node or pod probed it") {
		t.Errorf("explanation %q does not say the cluster legs did not run", fnd.Explanation)
	}
	if ev := strings.Join(fnd.Evidence, "\n"); !strings.Contains(ev, "did not run: image pull failed") {
		t.Errorf("evidence does not list the legs that did not run:\n%s", ev)
	}
}
