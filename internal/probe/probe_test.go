package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func fast(kind Kind, target string) Spec {
	return Spec{Kind: kind, Target: target, Count: 3, Interval: Duration(10 * time.Millisecond), Timeout: Duration(400 * time.Millisecond)}
}

func TestTCPOutcomes(t *testing.T) {
	p := New(isRoot())
	tests := []struct {
		name   string
		spec   Spec
		want   Outcome
		detail string
	}{
		{name: "listening", spec: fast(KindTCP, listenTCP(t)), want: OK},
		{name: "refusing", spec: fast(KindTCP, closedTCPPort(t)), want: Refused, detail: "refused"},
		{name: "blackholed", spec: fast(KindTCP, blackholeTCP(t)), want: Timeout, detail: "timeout"},
		{name: "resetting", spec: func() Spec {
			s := fast(KindTCP, resettingTCP(t))
			s.Hold = Duration(300 * time.Millisecond)
			return s
		}(), want: Reset, detail: "reset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Run(ctx(t), tc.spec)
			if got.Attempts != 3 {
				t.Fatalf("attempts = %d, want 3 (%+v)", got.Attempts, got)
			}
			for _, o := range got.Observations {
				if o.Outcome != tc.want {
					t.Errorf("attempt %d outcome = %s (%s), want %s", o.Seq, o.Outcome, o.Detail, tc.want)
				}
				if !strings.Contains(o.Detail, tc.detail) {
					t.Errorf("attempt %d detail = %q, want it to contain %q", o.Seq, o.Detail, tc.detail)
				}
				// The source port is known even when the connect fails:
				// it is the evidence of a filter on returning ports.
				if !strings.HasPrefix(o.Local, "127.0.0.1:") {
					t.Errorf("attempt %d local address = %q, want 127.0.0.1:PORT", o.Seq, o.Local)
				}
			}
			wantVerdict := VerdictPersistent
			if tc.want == OK {
				wantVerdict = VerdictOK
			}
			if got.Verdict != wantVerdict {
				t.Errorf("verdict = %s, want %s", got.Verdict, wantVerdict)
			}
		})
	}
}

func TestUDPOutcomes(t *testing.T) {
	p := New(isRoot())
	tests := []struct {
		name string
		addr string
		want Outcome
	}{
		{"echo replies", udpEcho(t), OK},
		{"closed port sends ICMP port unreachable", closedUDPPort(t), PortUnreachable},
		{"open port never replies", udpSilent(t), Silence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Run(ctx(t), fast(KindUDP, tc.addr))
			if got.Outcomes[tc.want] != got.Attempts || got.Attempts != 3 {
				t.Errorf("outcomes = %v over %d attempts, want all %s", got.Outcomes, got.Attempts, tc.want)
			}
		})
	}
}

func TestHTTPOutcomes(t *testing.T) {
	p := New(isRoot())
	srv := httpServer(t)
	tlsSrv := quietTLSServer(t)
	tests := []struct {
		name        string
		url         string
		want        Outcome
		status      int
		fromGateway bool
		hint        string
		detail      string
	}{
		{name: "200", url: srv.URL + "/ok", want: OK, status: 200},
		{name: "502 from a proxy", url: srv.URL + "/bad-gateway", want: HTTPStatus, status: 502, fromGateway: true, hint: "envoy"},
		{name: "504 from a gateway", url: srv.URL + "/gateway-timeout", want: HTTPStatus, status: 504, fromGateway: true},
		{name: "403 squid page", url: srv.URL + "/squid-denied", want: HTTPStatus, status: 403, fromGateway: true, hint: "X-Squid-Error"},
		{name: "470 azure firewall deny", url: srv.URL + "/azfw-denied", want: HTTPStatus, status: 470, fromGateway: true, hint: "Action: Deny"},
		{name: "404 from the origin", url: srv.URL + "/missing", want: HTTPStatus, status: 404},
		{name: "untrusted certificate", url: tlsSrv.URL, want: TLSError, detail: "unknown authority"},
		{name: "plain text on a TLS port", url: "https://" + plainTextServer(t) + "/", want: TLSError, detail: "did not answer with TLS"},
		{name: "refused", url: "http://" + closedTCPPort(t) + "/", want: Refused},
		{name: "reset", url: "http://" + resettingTCP(t) + "/", want: Reset},
		{name: "blackholed", url: "http://" + blackholeTCP(t) + "/", want: Timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Run(ctx(t), fast(KindHTTP, tc.url))
			if got.Attempts != 3 {
				t.Fatalf("attempts = %d, want 3", got.Attempts)
			}
			o := got.Observations[0]
			if o.Outcome != tc.want {
				t.Fatalf("outcome = %s (%s), want %s", o.Outcome, o.Detail, tc.want)
			}
			if !strings.Contains(o.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", o.Detail, tc.detail)
			}
			if tc.status == 0 {
				return
			}
			if o.HTTP == nil || o.HTTP.Status != tc.status {
				t.Fatalf("http = %+v, want status %d", o.HTTP, tc.status)
			}
			if o.HTTP.FromGateway != tc.fromGateway {
				t.Errorf("fromGateway = %v (hints %v), want %v", o.HTTP.FromGateway, o.HTTP.ProxyHints, tc.fromGateway)
			}
			if tc.hint != "" && !strings.Contains(strings.Join(o.HTTP.ProxyHints, "|"), tc.hint) {
				t.Errorf("proxy hints = %v, want one with %q", o.HTTP.ProxyHints, tc.hint)
			}
			if o.HTTP.Phases.ConnectMillis <= 0 || o.HTTP.Phases.FirstByteMillis < o.HTTP.Phases.ConnectMillis {
				t.Errorf("phases = %+v, want connect > 0 and first byte after connect", o.HTTP.Phases)
			}
			if o.HTTP.Meaning == "" {
				t.Errorf("no meaning for status %d", tc.status)
			}
		})
	}
}

func TestHTTPSPhases(t *testing.T) {
	srv := quietTLSServer(t)
	p := New(false)
	// Trust the test server's certificate through an injected dialer-side
	// TLS config is not needed: the TLS phase is timed even when it fails.
	got := p.Run(ctx(t), fast(KindHTTP, srv.URL))
	o := got.Observations[0]
	if o.HTTP == nil || o.HTTP.Phases.TLSMillis < o.HTTP.Phases.ConnectMillis || o.HTTP.Phases.TLSMillis == 0 {
		t.Errorf("phases = %+v, want a TLS phase after connect", o.HTTP)
	}
}

func quietTLSServer(t *testing.T) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestICMPEchoLoopback(t *testing.T) {
	if !isRoot() {
		t.Skip("raw ICMP needs root; unprivileged ping sockets depend on net.ipv4.ping_group_range")
	}
	got := New(true).Run(ctx(t), fast(KindICMP, "127.0.0.1"))
	if got.Verdict != VerdictOK || got.Attempts != 3 {
		t.Fatalf("got %s over %d attempts (%+v), want ok over 3", got.Verdict, got.Attempts, got.Observations)
	}
}

func TestPathLoopback(t *testing.T) {
	if !isRoot() {
		t.Skip("path probe needs raw ICMP (root)")
	}
	s := fast(KindPath, "127.0.0.1")
	s.Count = 2
	got := New(true).Run(ctx(t), s)
	if got.Path == nil || !got.Path.Reached {
		t.Fatalf("path = %+v (%s), want reached", got.Path, got.Error)
	}
	if len(got.Path.Hops) != 1 || got.Path.Hops[0].Host != "127.0.0.1" || got.Path.Hops[0].Recv != 2 || got.Path.Hops[0].LossPct != 0 {
		t.Errorf("hops = %+v, want one hop 127.0.0.1 answering 2 of 2", got.Path.Hops)
	}
	if got.Verdict != VerdictOK {
		t.Errorf("verdict = %s, want ok", got.Verdict)
	}
}

func TestPathNeedsPrivilege(t *testing.T) {
	got := New(false).Run(ctx(t), fast(KindPath, "127.0.0.1"))
	if got.Verdict != VerdictNotRun || !strings.Contains(got.Error, "raw ICMP") {
		t.Errorf("got %s %q, want not-run naming raw ICMP", got.Verdict, got.Error)
	}
}

// flakyDialer sends every other dial to a refusing port: a real network
// with a fault injected through the Dialer.
type flakyDialer struct {
	n       atomic.Int32
	refused string
}

func (f *flakyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if f.n.Add(1)%2 == 0 {
		addr = f.refused
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func TestIntermittentVerdict(t *testing.T) {
	p := New(false)
	p.Dialer = &flakyDialer{refused: closedTCPPort(t)}
	s := fast(KindTCP, listenTCP(t))
	s.Count = 4
	got := p.Run(ctx(t), s)
	if got.Verdict != VerdictIntermittent || got.FailureRate != 0.5 || got.Dominant != Refused {
		t.Errorf("got %s rate %v dominant %s, want intermittent 0.5 refused", got.Verdict, got.FailureRate, got.Dominant)
	}
	if !strings.HasPrefix(got.Summary(), "intermittent 50% refused 2/4") {
		t.Errorf("summary = %q", got.Summary())
	}
}

// fakeClock advances only when the series sleeps.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

func TestSeriesBoundedByDeadline(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)}
	p := New(false)
	p.Now, p.Sleep = clk.Now, clk.Sleep
	s := Spec{Kind: KindTCP, Target: listenTCP(t), Count: 100, Interval: Duration(time.Second), Deadline: Duration(5 * time.Second)}
	got := p.Run(ctx(t), s)
	if got.Attempts != 5 {
		t.Errorf("attempts = %d, want 5 (deadline 5s, interval 1s)", got.Attempts)
	}
	if !strings.Contains(got.Stopped, "deadline") {
		t.Errorf("stopped = %q, want it to name the deadline", got.Stopped)
	}
}

func TestSpecLimits(t *testing.T) {
	got := Spec{Kind: KindTCP, Target: "a:1", Count: 1e6, Timeout: Duration(time.Hour)}.WithDefaults()
	if got.Count != MaxCount || time.Duration(got.Timeout) != MaxTimeout || time.Duration(got.Deadline) != MaxDeadline {
		t.Errorf("limits not applied: %+v", got)
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: KindTCP, Target: "example.com"}, "want host:port"},
		{Spec{Kind: KindUDP, Target: ":53"}, "want host:port"},
		{Spec{Kind: KindHTTP, Target: "example.com"}, "http:// or https://"},
		{Spec{Kind: KindICMP, Target: "http://x"}, "host name or IP"},
		{Spec{Kind: "dns", Target: "x"}, "unknown probe kind"},
		{Spec{Kind: KindTCP, Target: "a:1", Expect: Expect{Outcome: "weird"}}, "unknown expected outcome"},
		{Spec{Kind: KindICMP, Target: "10.0.0.1"}, ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.spec.Kind)+" "+tc.spec.Target, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, OK},
		{"refused", errno("connect", syscall.ECONNREFUSED), Refused},
		{"reset", errno("read", syscall.ECONNRESET), Reset},
		{"host unreachable", errno("connect", syscall.EHOSTUNREACH), NoRoute},
		{"network unreachable", errno("connect", syscall.ENETUNREACH), NoRoute},
		{"deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), Timeout},
		{"dns", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, DNSError},
		{"other", errors.New("boom"), Error},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

func TestExpectation(t *testing.T) {
	// Expecting a refusal (a port that must stay closed) passes when the
	// port refuses.
	s := fast(KindTCP, closedTCPPort(t))
	s.Expect = Expect{Outcome: Refused}
	if got := New(false).Run(ctx(t), s); got.Verdict != VerdictOK {
		t.Errorf("verdict = %s, want ok (refused was expected)", got.Verdict)
	}
	srv := httpServer(t)
	h := fast(KindHTTP, srv.URL+"/missing")
	h.Expect = Expect{Outcome: HTTPStatus, Status: 404}
	if got := New(false).Run(ctx(t), h); got.Verdict != VerdictOK {
		t.Errorf("verdict = %s, want ok (404 was expected)", got.Verdict)
	}
}

func TestCompareTransports(t *testing.T) {
	p := New(false)
	// The same host:port for both: a UDP echo on the TCP server's port.
	tcpAddr := listenTCP(t)
	target := udpEchoOn(t, tcpAddr)
	p.Dialer = &tcpOnlyFlaky{refused: closedTCPPort(t)}
	rep, err := p.Do(ctx(t), Request{Probes: []Spec{fast(KindTCP, target), fast(KindUDP, target)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Comparisons) != 1 {
		t.Fatalf("comparisons = %+v, want 1", rep.Comparisons)
	}
	c := rep.Comparisons[0]
	if !c.TCPOnly || c.TCP != VerdictIntermittent || c.UDP != VerdictOK {
		t.Errorf("comparison = %+v, want TCP intermittent, UDP ok, TCPOnly", c)
	}
}

// tcpOnlyFlaky fails every other TCP dial (to a refusing port) and leaves
// UDP alone.
type tcpOnlyFlaky struct {
	n       atomic.Int32
	refused string
}

func (f *tcpOnlyFlaky) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "tcp" && f.n.Add(1)%2 == 0 {
		addr = f.refused
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func udpEchoOn(t *testing.T, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
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
	return addr
}

func TestHandle(t *testing.T) {
	spec := fmt.Sprintf(`{"probes":[{"kind":"tcp","target":%q,"count":2,"interval":"10ms","timeout":"500ms"}]}`, listenTCP(t))
	got, err := Handle(ctx(t), []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	rep := got.(Report)
	if len(rep.Series) != 1 || rep.Series[0].Verdict != VerdictOK || rep.Series[0].Attempts != 2 {
		t.Errorf("report = %+v, want one ok series of 2", rep)
	}
	if _, err := Handle(ctx(t), []byte(`{"probes":[]}`)); err == nil || !strings.Contains(err.Error(), "no probes") {
		t.Errorf("empty request: got %v, want 'no probes'", err)
	}
	if _, err := Handle(ctx(t), []byte(`{"probes":`)); err == nil {
		t.Errorf("bad JSON: got nil error")
	}
}

// staticResolver answers every name with one address, after a delay.
type staticResolver struct {
	addr  string
	delay time.Duration
}

func (r staticResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	time.Sleep(r.delay)
	if host == "nxdomain.test" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []string{r.addr}, nil
}

func TestHTTPPhasesWithName(t *testing.T) {
	srv := httpServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p := New(false)
	p.Resolver = staticResolver{addr: "127.0.0.1", delay: 5 * time.Millisecond}
	got := p.Run(ctx(t), fast(KindHTTP, "http://api.example.test:"+port+"/ok"))
	o := got.Observations[0]
	if got.Verdict != VerdictOK || o.HTTP == nil {
		t.Fatalf("got %s %+v, want ok", got.Verdict, o)
	}
	ph := o.HTTP.Phases
	if ph.DNSMillis < 5 || ph.ConnectMillis < ph.DNSMillis || ph.FirstByteMillis < ph.ConnectMillis {
		t.Errorf("phases %+v, want DNS >= 5ms, then connect, then first byte", ph)
	}
	got = p.Run(ctx(t), fast(KindHTTP, "http://nxdomain.test/"))
	if got.Dominant != DNSError {
		t.Errorf("nxdomain: got %s %s, want dns-error", got.Verdict, got.Dominant)
	}
}
