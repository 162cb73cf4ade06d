package dnsprobe

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const clusterName = "kubernetes.default.svc.cluster.local"

// behaviour configures a test server.
type behaviour struct {
	// drop returns true for queries the server must not answer.
	drop func(q dns.Question, n int64, udp bool) bool
	// big makes every A answer 40 records, truncated over UDP.
	big bool
	// rcode answers every query with this rcode when non-zero.
	rcode int
	// noTCP closes the TCP listener.
	noTCP bool
}

// server starts a real miekg/dns server on 127.0.0.1 (UDP and TCP on the
// same port) and returns its address.
func server(t testing.TB, b behaviour) string {
	t.Helper()
	var n atomic.Int64
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		_, udp := w.RemoteAddr().(*net.UDPAddr)
		if b.drop != nil && b.drop(q, n.Add(1), udp) {
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		switch {
		case b.rcode != 0:
			m.Rcode = b.rcode
		case q.Name == clusterName+"." || q.Name == "example.com.":
			if q.Qtype == dns.TypeA {
				count := 1
				if b.big {
					count = 40
				}
				for i := 0; i < count; i++ {
					rr, _ := dns.NewRR(fmt.Sprintf("%s 30 IN A 10.0.%d.%d", q.Name, i/250, i%250+1))
					m.Answer = append(m.Answer, rr)
				}
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		if udp {
			m.Truncate(dns.MinMsgSize)
		}
		_ = w.WriteMsg(m)
	})
	pc, l := listenUDPAndTCP(t, !b.noTCP)
	addr := pc.LocalAddr().String()
	start(t, &dns.Server{PacketConn: pc, Handler: h})
	if l != nil {
		start(t, &dns.Server{Listener: l, Handler: h})
	}
	return addr
}

// listenUDPAndTCP listens on one free loopback port for UDP and, when
// withTCP, TCP: the UDP port the kernel picks may be taken for TCP, so it
// tries again with another.
func listenUDPAndTCP(t testing.TB, withTCP bool) (net.PacketConn, net.Listener) {
	t.Helper()
	var lastErr error
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if !withTCP {
			return pc, nil
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l
		}
		pc.Close()
		lastErr = err
	}
	t.Fatalf("no loopback port free for both UDP and TCP: %v", lastErr)
	return nil, nil
}

func start(t testing.TB, s *dns.Server) {
	var wg sync.WaitGroup
	wg.Add(1)
	s.NotifyStartedFunc = wg.Done
	go func() { _ = s.ActivateAndServe() }()
	wg.Wait()
	t.Cleanup(func() { _ = s.Shutdown() })
}

var names = []Name{{Name: clusterName, Kind: KindCluster}, {Name: "example.com", Kind: KindExternal}}

func run(t *testing.T, spec Spec) *Result {
	t.Helper()
	spec.ResolvConf = "-"
	if spec.RatePerHop == 0 {
		spec.RatePerHop = -1
	}
	if spec.TimeoutMS == 0 {
		spec.TimeoutMS = 200
	}
	res, err := (&Prober{}).Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func find(t *testing.T, hr HopResult, qname, typ, transport string) Series {
	t.Helper()
	for _, s := range hr.Series {
		if s.QName == qname && s.Type == typ && s.Transport == transport {
			return s
		}
	}
	t.Fatalf("no series %s %s %s in %+v", qname, typ, transport, hr.Series)
	return Series{}
}

func TestHealthyServer(t *testing.T) {
	addr := server(t, behaviour{})
	res := run(t, Spec{Hops: []Hop{{Name: HopKubeDNS, Addr: addr}}, Names: names, Count: 20})
	hr := res.Hops[0]
	if got, want := len(hr.Series), 8; got != want {
		t.Fatalf("series: got %d, want %d", got, want)
	}
	for _, s := range hr.Series {
		if s.Sent != 20 || s.OK != 20 || s.Timeouts != 0 || s.Rcodes["NOERROR"] != 20 {
			t.Errorf("%s %s %s: got sent=%d ok=%d timeouts=%d rcodes=%v, want 20 sent, all NOERROR", s.QName, s.Type, s.Transport, s.Sent, s.OK, s.Timeouts, s.Rcodes)
		}
		if s.Latency.P50MS <= 0 || s.Latency.P99MS < s.Latency.P50MS || s.Latency.MaxMS < s.Latency.P99MS {
			t.Errorf("%s %s %s: latency %+v not ordered", s.QName, s.Type, s.Transport, s.Latency)
		}
	}
	if tot := hr.Totals(""); tot.Sent != 160 || tot.OK != 160 {
		t.Errorf("totals: got sent=%d ok=%d, want 160/160", tot.Sent, tot.OK)
	}
}

func TestNXDOMAINIsAnAnswer(t *testing.T) {
	addr := server(t, behaviour{})
	res := run(t, Spec{Hops: []Hop{{Name: HopUpstream, Addr: addr}}, Names: []Name{{Name: "nope.invalid", Kind: KindExternal}}, Count: 5, Transports: []string{"udp"}})
	s := find(t, res.Hops[0], "nope.invalid", "A", "udp")
	if s.Responses != 5 || s.OK != 0 || s.Rcodes["NXDOMAIN"] != 5 || s.Timeouts != 0 {
		t.Errorf("got %+v, want 5 NXDOMAIN answers, none ok", s)
	}
}

func TestTruncatingServer(t *testing.T) {
	tests := []struct {
		name        string
		noTCP       bool
		wantRetryOK int
	}{
		{"TCP works", false, maxTCPRetries},
		{"TCP refused", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := server(t, behaviour{big: true, noTCP: tt.noTCP})
			res := run(t, Spec{Hops: []Hop{{Name: HopUpstream, Addr: addr}}, Names: names[1:], Count: 10})
			udp := find(t, res.Hops[0], "example.com", "A", "udp")
			if udp.Truncated != 10 || udp.OK != 0 {
				t.Errorf("udp: got truncated=%d ok=%d, want 10 truncated, 0 ok", udp.Truncated, udp.OK)
			}
			if udp.TCPRetry.Tried != maxTCPRetries || udp.TCPRetry.OK != tt.wantRetryOK {
				t.Errorf("tcp retry: got %+v, want tried=%d ok=%d", udp.TCPRetry, maxTCPRetries, tt.wantRetryOK)
			}
			if udp.MaxSize > dns.MinMsgSize {
				t.Errorf("udp answer size: got %d, want <= %d", udp.MaxSize, dns.MinMsgSize)
			}
			aaaa := find(t, res.Hops[0], "example.com", "AAAA", "udp")
			if aaaa.Truncated != 0 || aaaa.OK != 10 {
				t.Errorf("small AAAA answers: got truncated=%d ok=%d, want 0 and 10", aaaa.Truncated, aaaa.OK)
			}
			tcp := find(t, res.Hops[0], "example.com", "A", "tcp")
			if tt.noTCP {
				if tcp.OK != 0 || tcp.Errors != 10 {
					t.Errorf("tcp: got ok=%d errors=%d, want 0 and 10", tcp.OK, tcp.Errors)
				}
			} else if tcp.OK != 10 || tcp.MaxSize <= dns.MinMsgSize {
				t.Errorf("tcp: got ok=%d size=%d, want 10 full answers", tcp.OK, tcp.MaxSize)
			}
		})
	}
}

func TestLossyServer(t *testing.T) {
	// Drop every AAAA query over UDP whose arrival number is a multiple of
	// 3: the lookups lose one query of their A/AAAA pair.
	addr := server(t, behaviour{drop: func(q dns.Question, n int64, udp bool) bool {
		return udp && q.Qtype == dns.TypeAAAA && n%3 == 0
	}})
	res := run(t, Spec{Hops: []Hop{{Name: HopCoreDNS, Addr: addr, Pod: "kube-system/coredns-b"}}, Names: names[:1], Count: 30, Transports: []string{"udp"}, Concurrency: 1, TimeoutMS: 100})
	a := find(t, res.Hops[0], clusterName, "A", "udp")
	aaaa := find(t, res.Hops[0], clusterName, "AAAA", "udp")
	if a.OK != 30 || a.Timeouts != 0 {
		t.Errorf("A: got ok=%d timeouts=%d, want 30 and 0", a.OK, a.Timeouts)
	}
	if aaaa.Timeouts == 0 || aaaa.Timeouts+aaaa.OK != 30 {
		t.Errorf("AAAA: got ok=%d timeouts=%d, want some timeouts summing to 30", aaaa.OK, aaaa.Timeouts)
	}
	if aaaa.PairLoss != aaaa.Timeouts {
		t.Errorf("pair loss: got %d, want %d (every AAAA loss had its A answered)", aaaa.PairLoss, aaaa.Timeouts)
	}
}

func TestServerDown(t *testing.T) {
	// A UDP port nobody listens on: ICMP port unreachable, seen as refused.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	res := run(t, Spec{Hops: []Hop{{Name: HopKubeDNS, Addr: addr}}, Names: names[:1], Count: 3})
	tot := res.Hops[0].Totals("")
	if tot.OK != 0 || tot.Errors+tot.Timeouts != tot.Sent || tot.Sent != 12 {
		t.Errorf("got %+v, want 12 sent, all failed", tot)
	}
	if tot.FirstError == "" {
		t.Error("got no error message, want one")
	}
}

func TestServfail(t *testing.T) {
	addr := server(t, behaviour{rcode: dns.RcodeServerFailure})
	res := run(t, Spec{Hops: []Hop{{Name: HopUpstream, Addr: addr}}, Names: names[1:], Count: 4})
	tot := res.Hops[0].Totals(KindExternal)
	if tot.Rcodes["SERVFAIL"] != 16 || tot.OK != 0 {
		t.Errorf("got rcodes %v ok=%d, want 16 SERVFAIL", tot.Rcodes, tot.OK)
	}
}

func TestMaxDurationBoundsTheRun(t *testing.T) {
	// A server that never answers, a huge count, a short deadline.
	addr := server(t, behaviour{drop: func(dns.Question, int64, bool) bool { return true }})
	start := time.Now()
	res := run(t, Spec{Hops: []Hop{{Name: HopKubeDNS, Addr: addr}}, Names: names[:1], Count: MaxCount, Transports: []string{"udp"}, MaxDurationMS: 300, TimeoutMS: 100})
	if res.Stopped != "max duration reached" {
		t.Errorf("stopped: got %q, want max duration reached", res.Stopped)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("run took %v, want it bounded by its max duration", el)
	}
}

func TestRateLimit(t *testing.T) {
	addr := server(t, behaviour{})
	res := run(t, Spec{Hops: []Hop{{Name: HopKubeDNS, Addr: addr}}, Names: names[:1], Count: 10, Transports: []string{"udp"}, RatePerHop: 40, Concurrency: 2})
	// 20 queries at 40/s with a burst of 2: at least ~450ms.
	if res.DurationMS < 400 {
		t.Errorf("duration: got %.0fms, want >= 400ms at 40 queries/s", res.DurationMS)
	}
}

func TestResolvConfHops(t *testing.T) {
	addr := server(t, behaviour{})
	host, _, _ := net.SplitHostPort(addr)
	files := map[string]string{
		"/etc/resolv.conf":                "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver " + host + "\noptions ndots:5 single-request-reopen\n",
		"/host/run/systemd/resolve/stub":  "nameserver 127.0.0.53\n",
		"/host/run/systemd/resolve/upstr": "nameserver 168.63.129.16\n",
	}
	p := &Prober{ReadFile: func(name string) ([]byte, error) {
		b, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("open %s: no such file", name)
		}
		return []byte(b), nil
	}}
	spec := Spec{Names: names, Count: 1, Transports: []string{"udp"}, RatePerHop: -1, TimeoutMS: 100, MaxDurationMS: 2000,
		UpstreamResolvConf: []string{"/missing", "/host/run/systemd/resolve/stub", "/host/run/systemd/resolve/upstr"}}
	spec.Hops = []Hop{{Name: HopKubeDNS, Addr: addr}}
	res, err := p.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	rc := res.ResolvConf
	if rc == nil || rc.Ndots != 5 || len(rc.Search) != 3 || len(rc.Options) != 2 {
		t.Fatalf("resolv.conf: got %+v, want ndots 5, 3 search domains, 2 options", rc)
	}
	var got []string
	for _, h := range res.Hops {
		got = append(got, h.Hop.Name+"="+h.Hop.Addr)
	}
	want := []string{HopResolvConf + "=" + host, HopKubeDNS + "=" + addr, HopUpstream + "=168.63.129.16"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hops: got %v, want %v", got, want)
	}
	if len(res.Notes) != 1 {
		t.Errorf("notes: got %v, want one about /missing", res.Notes)
	}
	up := res.Hops[2]
	for _, s := range up.Series {
		if s.Kind != KindExternal {
			t.Errorf("upstream asked %s (%s), want external names only", s.QName, s.Kind)
		}
	}
}

func TestHandle(t *testing.T) {
	addr := server(t, behaviour{})
	spec, _ := json.Marshal(Spec{ResolvConf: "-", Hops: []Hop{{Name: HopKubeDNS, Addr: addr}}, Names: names, Count: 2, RatePerHop: -1})
	out, err := Handle(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	res := out.(*Result)
	if tot := res.Hops[0].Totals(""); tot.OK != 16 {
		t.Errorf("got ok=%d, want 16", tot.OK)
	}
	if _, err := Handle(context.Background(), json.RawMessage(`{"names":[{"name":"a"}],"bogus":1}`)); err == nil {
		t.Error("unknown field: got no error, want one")
	}
	if _, err := Handle(context.Background(), json.RawMessage(`{"names":[{"name":"a"}],"hops":[{"name":"kube-dns","addr":"kube-dns"}]}`)); err == nil {
		t.Error("hop address not an IP: got no error, want one")
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if d := float64(got-tt.want) / float64(tt.want); d < 0 || d > 0.025 {
			t.Errorf("q%.2f: got %v, want %v within 2.5%% above", tt.q, got, tt.want)
		}
	}
	if h.Max() != time.Second || h.Count() != 1000 {
		t.Errorf("got max %v count %d, want 1s and 1000", h.Max(), h.Count())
	}
}

func TestCacheBust(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		seen[r.Question[0].Name] = true
		mu.Unlock()
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	start(t, &dns.Server{PacketConn: pc, Handler: h})
	res := run(t, Spec{Hops: []Hop{{Name: HopKubeDNS, Addr: pc.LocalAddr().String()}}, Names: []Name{{Name: "svc.cluster.local", Kind: KindCluster, CacheBust: true}},
		Count: 25, Transports: []string{"udp"}})
	s := res.Hops[0].Series[0]
	if s.Sent != 25 || s.Answered() != 25 || s.OK != 0 || s.Rcodes["NXDOMAIN"] != 25 {
		t.Errorf("got sent=%d answered=%d ok=%d rcodes=%v, want 25 NXDOMAIN answers", s.Sent, s.Answered(), s.OK, s.Rcodes)
	}
	if got, want := s.Display(), "nd*.svc.cluster.local"; got != want {
		t.Errorf("display: got %q, want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 50 { // A and AAAA, 25 each, every name new
		t.Errorf("distinct names asked: got %d, want 50", len(seen))
	}
	for n := range seen {
		if !strings.HasPrefix(n, "nd") || !strings.HasSuffix(n, ".svc.cluster.local.") {
			t.Errorf("asked %q, want nd<random>.svc.cluster.local.", n)
		}
	}
}
