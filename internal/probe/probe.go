// Package probe observes the network from one place (this machine, a named
// network namespace, a node or a pod) the way an engineer narrows an outbound
// failure down by hand: TCP connect, UDP, HTTP(S) with phase timings, ICMP
// echo and a path probe like `mtr -r`, each repeated a bounded number of
// times so that "persistent" and "intermittent" are measured, not guessed.
//
// A probe is an expectation (Spec.Expect) and observations (Observation)
// with typed outcomes (Outcome). Everything that touches the world (dialer,
// resolver, ICMP sockets, clock) is injected through Prober, so tests run
// against real servers on loopback and production code never branches on a
// test mode.
package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/icmp"
)

// Kind is a kind of probe.
type Kind string

// Probe kinds.
const (
	// KindTCP opens a TCP connection (nc -zv).
	KindTCP Kind = "tcp"
	// KindUDP sends a datagram and waits for a reply (nc -u).
	KindUDP Kind = "udp"
	// KindHTTP makes an HTTP or HTTPS request (curl -v).
	KindHTTP Kind = "http"
	// KindICMP sends ICMP echo requests (ping).
	KindICMP Kind = "icmp"
	// KindPath sends probes with increasing TTL and reports loss and latency
	// per hop (mtr -r -c N).
	KindPath Kind = "path"
)

// Kinds lists every probe kind.
var Kinds = []Kind{KindTCP, KindUDP, KindHTTP, KindICMP, KindPath}

// Outcome is what one attempt observed.
type Outcome string

// Outcomes. Each probe kind uses the subset that applies to it.
const (
	// OK: TCP connected, UDP or ICMP replied, HTTP answered below 400.
	OK Outcome = "ok"
	// Refused: TCP SYN answered with RST (nothing listens, or a firewall
	// rejects with a reset).
	Refused Outcome = "refused"
	// Timeout: no answer within the attempt's timeout (a silent drop on the
	// path, an overloaded listener, or replies that never come back).
	Timeout Outcome = "timeout"
	// Reset: an established connection was reset.
	Reset Outcome = "reset"
	// NoRoute: the network or host is unreachable (no route, or an ICMP
	// unreachable from a router).
	NoRoute Outcome = "no-route"
	// PortUnreachable: UDP answered with ICMP port unreachable.
	PortUnreachable Outcome = "port-unreachable"
	// Silence: UDP got no reply. The port may be open and quiet or filtered.
	Silence Outcome = "silence"
	// TLSError: the TLS handshake failed; the observation's Detail says why.
	TLSError Outcome = "tls-error"
	// HTTPStatus: the server (or a proxy in front of it) answered with a
	// status of 400 or more.
	HTTPStatus Outcome = "http-status"
	// DNSError: the target's name did not resolve.
	DNSError Outcome = "dns-error"
	// Error: anything else; Detail holds the error.
	Error Outcome = "error"
)

// Failed reports whether the outcome is a failure for a probe that expects
// success.
func (o Outcome) Failed() bool { return o != OK }

// Duration is a time.Duration that reads and writes JSON as "1.5s" (or a
// number of nanoseconds).
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"2s\" or nanoseconds, got %s", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Expect is what a probe expects to observe. The zero value expects OK.
type Expect struct {
	// Outcome is the expected outcome; empty means OK.
	Outcome Outcome `json:"outcome,omitempty"`
	// Status, for HTTP, is the expected status code; 0 means any status
	// below 400 (with Outcome OK) or any status (with Outcome HTTPStatus).
	Status int `json:"status,omitempty"`
}

// Match reports whether an observation meets the expectation.
func (e Expect) Match(o Observation) bool {
	want := e.Outcome
	if want == "" {
		want = OK
	}
	if o.Outcome != want {
		return false
	}
	if e.Status != 0 {
		return o.HTTP != nil && o.HTTP.Status == e.Status
	}
	return true
}

// String renders the expectation, e.g. "ok" or "http-status 404".
func (e Expect) String() string {
	s := string(e.Outcome)
	if s == "" {
		s = string(OK)
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" %d", e.Status)
	}
	return s
}

// Spec describes one probe and how often to repeat it.
type Spec struct {
	Kind Kind `json:"kind"`
	// Target is host:port for tcp and udp, a host for icmp and path, and a
	// URL for http.
	Target string `json:"target"`
	// Count is the number of attempts (path: cycles). Default 5, at most
	// MaxCount.
	Count int `json:"count,omitempty"`
	// Interval is the pause between attempts. Default 200ms.
	Interval Duration `json:"interval,omitempty"`
	// Timeout bounds one attempt. Default 2s.
	Timeout Duration `json:"timeout,omitempty"`
	// Deadline bounds the whole series. Default Count x (Timeout +
	// Interval), at most MaxDeadline.
	Deadline Duration `json:"deadline,omitempty"`
	// Hold, for tcp, keeps each connection open this long to see whether it
	// is reset. Default 0 (connect only).
	Hold Duration `json:"hold,omitempty"`
	// Payload, for udp, is the datagram sent. Default "netdoctor".
	Payload string `json:"payload,omitempty"`
	// MaxHops, for path, is the largest TTL tried. Default 30.
	MaxHops int `json:"maxHops,omitempty"`
	// Expect is the expected outcome; the zero value expects OK.
	Expect Expect `json:"expect,omitzero"`
}

// Limits that bound every series in count and time.
const (
	DefaultCount    = 5
	MaxCount        = 1000
	DefaultInterval = 200 * time.Millisecond
	DefaultTimeout  = 2 * time.Second
	MaxTimeout      = 30 * time.Second
	MaxDeadline     = 5 * time.Minute
	DefaultMaxHops  = 30
	MaxHops         = 63
)

// WithDefaults returns the spec with defaults filled in and limits applied.
func (s Spec) WithDefaults() Spec {
	if s.Count <= 0 {
		s.Count = DefaultCount
	}
	if s.Count > MaxCount {
		s.Count = MaxCount
	}
	if s.Interval <= 0 {
		s.Interval = Duration(DefaultInterval)
	}
	if s.Timeout <= 0 {
		s.Timeout = Duration(DefaultTimeout)
	}
	if s.Timeout > Duration(MaxTimeout) {
		s.Timeout = Duration(MaxTimeout)
	}
	if s.Deadline <= 0 {
		per := time.Duration(s.Timeout) + time.Duration(s.Interval) + time.Duration(s.Hold)
		if s.Kind == KindPath {
			per = time.Duration(s.Timeout) + time.Duration(s.Interval)
			per *= 2 // a cycle waits for every hop's answer
		}
		s.Deadline = Duration(time.Duration(s.Count) * per)
	}
	if s.Deadline > Duration(MaxDeadline) {
		s.Deadline = Duration(MaxDeadline)
	}
	if s.Kind == KindUDP && s.Payload == "" {
		s.Payload = "netdoctor"
	}
	if s.Kind == KindPath {
		if s.MaxHops <= 0 {
			s.MaxHops = DefaultMaxHops
		}
		if s.MaxHops > MaxHops {
			s.MaxHops = MaxHops
		}
	}
	return s
}

// Validate checks the spec's kind and target.
func (s Spec) Validate() error {
	switch s.Kind {
	case KindTCP, KindUDP:
		host, port, err := net.SplitHostPort(s.Target)
		if err != nil {
			return fmt.Errorf("%s probe target %q: want host:port: %w", s.Kind, s.Target, err)
		}
		if host == "" || port == "" {
			return fmt.Errorf("%s probe target %q: want host:port", s.Kind, s.Target)
		}
	case KindICMP, KindPath:
		if s.Target == "" || strings.ContainsAny(s.Target, "/:") && net.ParseIP(s.Target) == nil {
			return fmt.Errorf("%s probe target %q: want a host name or IP address", s.Kind, s.Target)
		}
	case KindHTTP:
		if !strings.HasPrefix(s.Target, "http://") && !strings.HasPrefix(s.Target, "https://") {
			return fmt.Errorf("http probe target %q: want an http:// or https:// URL", s.Target)
		}
	default:
		return fmt.Errorf("unknown probe kind %q (want one of tcp, udp, http, icmp, path)", s.Kind)
	}
	switch s.Expect.Outcome {
	case "", OK, Refused, Timeout, Reset, NoRoute, PortUnreachable, Silence, TLSError, HTTPStatus, DNSError, Error:
	default:
		return fmt.Errorf("%s probe: unknown expected outcome %q", s.Kind, s.Expect.Outcome)
	}
	return nil
}

// Observation is what one attempt saw.
type Observation struct {
	// Seq numbers the attempts of a series from 1.
	Seq     int     `json:"seq"`
	Outcome Outcome `json:"outcome"`
	// Detail explains a failure: the error, the TLS reason, the status text.
	Detail string `json:"detail,omitempty"`
	// Local is the local address (ip:port) the attempt used, when known: the
	// source port matters when replies are filtered by port.
	Local string `json:"local,omitempty"`
	// Remote is the address the attempt reached or tried.
	Remote string `json:"remote,omitempty"`
	// RTTMillis is the time the attempt took (connect, reply, or response).
	RTTMillis float64 `json:"rttMillis"`
	// HTTP holds the response details of an http probe.
	HTTP *HTTPObservation `json:"http,omitempty"`
}

// Prober runs probes. Its fields are the things that touch the world; the
// zero value is not usable, use New.
type Prober struct {
	// Dialer opens TCP and UDP connections.
	Dialer Dialer
	// Resolver resolves host names.
	Resolver Resolver
	// ListenICMP opens an ICMP socket: network is "ip4:icmp" (raw, needs
	// CAP_NET_RAW) or "udp4" (unprivileged ping socket).
	ListenICMP func(network, address string) (*icmp.PacketConn, error)
	// Now is the clock.
	Now func() time.Time
	// Sleep waits d or until ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Privileged selects raw ICMP sockets for icmp and path probes.
	Privileged bool
}

// Dialer opens connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver resolves names; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// New returns a Prober on this process's network namespace, with raw ICMP
// sockets when privileged is true.
func New(privileged bool) *Prober {
	return &Prober{
		Dialer:     &sysDialer{},
		Resolver:   &net.Resolver{PreferGo: true},
		ListenICMP: icmp.ListenPacket,
		Now:        time.Now,
		Sleep:      sleepCtx,
		Privileged: privileged,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *Prober) since(t time.Time) float64 {
	return millis(p.Now().Sub(t))
}

func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// resolve returns one IP address for host (the first), or the host itself
// when it is an IP literal.
func (p *Prober) resolve(ctx context.Context, host string) (string, error) {
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		return ip.String(), nil
	}
	addrs, err := p.Resolver.LookupHost(ctx, host)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return a, nil
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("lookup %s: no addresses", host)
	}
	return addrs[0], nil
}
