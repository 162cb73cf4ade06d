// Package hosts holds the servers of the lab's outside world: the upstream
// DNS server, the "internet" hosts (HTTP, TCP and UDP echo), the NVA's HTTP
// answerer, and the loopback forwarder that exposes the API server to the
// machine's own namespace.
package hosts

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Zone names the upstream serves.
const (
	// Zone is the test zone; example.com is reserved for documentation.
	Zone = "example.com."
	// BigName answers with BigCount A records, more than fit in 512 bytes;
	// so do its subdomains (*.big.example.com), so tests can dodge caches.
	BigName  = "big.example.com."
	BigCount = 40
	// DynZone answers any name under it with the web host's address, so
	// tests can ask names no cache has seen.
	DynZone = "dyn.example.com."
)

// UpstreamConfig configures the upstream DNS server.
type UpstreamConfig struct {
	// Addr is the listen address, e.g. 192.0.2.53:53.
	Addr string
	// Records maps a fully qualified name to its A records.
	Records map[string][]string
	// ModeFile, when it exists and holds "legacy512", makes the server cap
	// UDP answers at 512 bytes whatever EDNS0 says (the dns-truncation fault).
	ModeFile string
	// Logf prints log lines.
	Logf func(string, ...any)
}

// Upstream is a small authoritative server for the lab's test zone.
type Upstream struct {
	cfg      UpstreamConfig
	mu       sync.Mutex
	modeTime time.Time
	legacy   bool
	checked  time.Time
}

// NewUpstream returns a server for cfg.
func NewUpstream(cfg UpstreamConfig) *Upstream {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Upstream{cfg: cfg}
}

// DefaultRecords are the names the lab's upstream serves.
func DefaultRecords() map[string][]string {
	r := map[string][]string{
		"www.example.com.":    {"198.51.100.80"},
		"web.example.com.":    {"198.51.100.80"},
		"remote.example.com.": {"198.51.100.81"},
		"api.example.com.":    {"198.51.100.80"},
	}
	var big []string
	for i := 0; i < BigCount; i++ {
		big = append(big, fmt.Sprintf("198.51.100.%d", 100+i))
	}
	r[BigName] = big
	return r
}

func (u *Upstream) legacyMode() bool {
	if u.cfg.ModeFile == "" {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.checked) < 200*time.Millisecond {
		return u.legacy
	}
	u.checked = time.Now()
	b, err := os.ReadFile(u.cfg.ModeFile)
	u.legacy = err == nil && strings.TrimSpace(string(b)) == "legacy512"
	return u.legacy
}

func (u *Upstream) lookup(name string) ([]string, bool) {
	name = strings.ToLower(name)
	if ips, ok := u.cfg.Records[name]; ok {
		return ips, true
	}
	if strings.HasSuffix(name, "."+BigName) {
		return u.cfg.Records[BigName], true
	}
	if strings.HasSuffix(name, "."+DynZone) {
		return []string{"198.51.100.80"}, true
	}
	return nil, false
}

// ServeDNS answers A queries from the records, NODATA for other types of
// known names and NXDOMAIN for the rest. A UDP answer that does not fit the
// client's buffer is sent with TC set and no records, as Unbound does.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: "ns1." + Zone, Mbox: "hostmaster." + Zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 30}
	ips, ok := u.lookup(q.Name)
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
	case q.Qtype == dns.TypeA:
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip).To4()})
		}
	default:
		m.Ns = []dns.RR{soa}
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil && !u.legacyMode() {
			size = max(int(o.UDPSize()), dns.MinMsgSize)
		}
		if o := r.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), false)
		}
		if m.Len() > size {
			m.Answer, m.Ns, m.Extra = nil, nil, nil
			m.Truncated = true
			if o := r.IsEdns0(); o != nil {
				m.SetEdns0(o.UDPSize(), false)
			}
		}
	}
	_ = w.WriteMsg(m)
}

// Run serves UDP and TCP on cfg.Addr until ctx ends.
func (u *Upstream) Run(ctx context.Context) error {
	udp := &dns.Server{Addr: u.cfg.Addr, Net: "udp", Handler: u}
	tcp := &dns.Server{Addr: u.cfg.Addr, Net: "tcp", Handler: u}
	errc := make(chan error, 2)
	go func() { errc <- udp.ListenAndServe() }()
	go func() { errc <- tcp.ListenAndServe() }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		return fmt.Errorf("upstream dns: %w", err)
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	return nil
}
