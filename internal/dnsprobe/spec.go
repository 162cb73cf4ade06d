// Package dnsprobe is netdoctor's DNS probe engine. It queries each hop of a
// pod's DNS path explicitly (the resolv.conf nameserver, NodeLocal DNS at
// 169.254.20.10, the kube-dns ClusterIP, each CoreDNS pod, and the upstream
// CoreDNS forwards to) with github.com/miekg/dns, for cluster and external
// names, A and AAAA, over UDP and TCP, repeated at a bounded rate and for a
// bounded time, and reports per hop the success rate, rcodes, latency
// quantiles, timeouts, A/AAAA pair losses (the conntrack race behind 5-second
// delays), truncated answers and whether the same query succeeds over TCP.
//
// Memory is bounded whatever the count: latencies go to a fixed-size
// histogram, never a list.
package dnsprobe

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Hop names, used as Hop.Name and by the analyzers.
const (
	HopResolvConf = "resolv.conf"    // the nameserver in the pod's /etc/resolv.conf
	HopNodeLocal  = "node-local-dns" // NodeLocal DNS's link-local address
	HopKubeDNS    = "kube-dns"       // the kube-dns Service ClusterIP
	HopCoreDNS    = "coredns"        // one CoreDNS pod, by its pod IP
	HopUpstream   = "upstream"       // a server CoreDNS forwards to
)

// Name kinds.
const (
	KindCluster  = "cluster"  // a name only cluster DNS answers (kubernetes.default.svc.cluster.local)
	KindExternal = "external" // a name outside the cluster
)

// NodeLocalDNSIP is NodeLocal DNS's conventional link-local address.
const NodeLocalDNSIP = "169.254.20.10"

// Defaults.
const (
	DefaultCount       = 50
	DefaultRatePerHop  = 100 // queries per second per hop
	DefaultConcurrency = 4   // outstanding lookups per hop
	DefaultTimeout     = 2 * time.Second
	DefaultMaxDuration = 60 * time.Second
	// MaxCount bounds Count, whatever is asked.
	MaxCount = 1_000_000
	// maxTCPRetries bounds the TCP retries of truncated answers per series.
	maxTCPRetries = 5
)

// Hop is one DNS server on the path.
type Hop struct {
	// Name is the hop's role: HopResolvConf, HopNodeLocal, HopKubeDNS,
	// HopCoreDNS or HopUpstream.
	Name string `json:"name"`
	// Addr is the server's IP, or IP:port.
	Addr string `json:"addr"`
	// Pod is namespace/name of the CoreDNS pod for a HopCoreDNS hop.
	Pod string `json:"pod,omitempty"`
	// Node is the node of that pod, when known.
	Node string `json:"node,omitempty"`
	// Kinds restricts the names asked to these kinds (empty: every name).
	// An upstream only knows external names.
	Kinds []string `json:"kinds,omitempty"`
}

// HostPort returns Addr with port 53 when none is given.
func (h Hop) HostPort() string {
	if _, _, err := net.SplitHostPort(h.Addr); err == nil {
		return h.Addr
	}
	return net.JoinHostPort(h.Addr, "53")
}

// Label renders the hop for tables: "coredns kube-system/coredns-1 (10.244.0.7)".
func (h Hop) Label() string {
	s := h.Name
	if h.Pod != "" {
		s += " " + h.Pod
	}
	return s + " (" + h.Addr + ")"
}

func (h Hop) wants(kind string) bool {
	if len(h.Kinds) == 0 {
		return true
	}
	for _, k := range h.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Name is a name to resolve and its kind.
type Name struct {
	Name string `json:"name"`
	// Kind is KindCluster or KindExternal.
	Kind string `json:"kind"`
	// CacheBust asks a new name under Name for every query
	// (nd<random>.NAME), so that no cache on the path (NodeLocal DNS,
	// CoreDNS) can answer it: every query travels the whole path. The
	// answer is usually NXDOMAIN, which counts as answered.
	CacheBust bool `json:"cacheBust,omitempty"`
}

// Spec is a probe run's input: the "dns" agent request's spec.
type Spec struct {
	// Hops are probed in addition to the discovered ones.
	Hops []Hop `json:"hops,omitempty"`
	// ResolvConf is the resolv.conf read for the HopResolvConf hops and
	// reported in the result ("/etc/resolv.conf" when empty, "-" for none).
	ResolvConf string `json:"resolvConf,omitempty"`
	// UpstreamResolvConf are resolv.conf files whose nameservers are
	// CoreDNS's upstream when it forwards to /etc/resolv.conf (on a node:
	// the host's files under /proc/1/root). The first readable one is used.
	UpstreamResolvConf []string `json:"upstreamResolvConf,omitempty"`
	// Names to resolve; each hop asks those of the kinds it wants.
	Names []Name `json:"names"`
	// Types are query types ("A", "AAAA"); default both.
	Types []string `json:"types,omitempty"`
	// Transports are "udp" and/or "tcp"; default both.
	Transports []string `json:"transports,omitempty"`
	// Count is how many times each name, type and transport is asked per
	// hop (DefaultCount when 0, at most MaxCount).
	Count int `json:"count,omitempty"`
	// RatePerHop bounds queries per second per hop (DefaultRatePerHop when
	// 0; negative means unlimited, for benchmarks).
	RatePerHop float64 `json:"ratePerHop,omitempty"`
	// Concurrency is the number of outstanding lookups per hop.
	Concurrency int `json:"concurrency,omitempty"`
	// TimeoutMS is the per-query timeout (DefaultTimeout when 0).
	TimeoutMS int `json:"timeoutMS,omitempty"`
	// MaxDurationMS bounds the whole run (DefaultMaxDuration when 0).
	MaxDurationMS int `json:"maxDurationMS,omitempty"`
	// NoPair sends A and AAAA over UDP as separate lookups. By default they
	// are sent together from one socket, as glibc does, which is what
	// exposes the conntrack insert race.
	NoPair bool `json:"noPair,omitempty"`
	// ReuseSocket keeps one UDP socket per worker instead of a new one per
	// lookup: faster (benchmarks, high counts) but no longer a new source
	// port and conntrack entry per lookup as libc resolvers make.
	ReuseSocket bool `json:"reuseSocket,omitempty"`
	// UDPSize, when set, adds an EDNS0 OPT record with this buffer size.
	// Without it queries are plain (512-byte answers), as libc sends them.
	UDPSize uint16 `json:"udpSize,omitempty"`
}

func (s Spec) withDefaults() Spec {
	if len(s.Types) == 0 {
		s.Types = []string{"A", "AAAA"}
	}
	if len(s.Transports) == 0 {
		s.Transports = []string{"udp", "tcp"}
	}
	if s.Count <= 0 {
		s.Count = DefaultCount
	}
	if s.Count > MaxCount {
		s.Count = MaxCount
	}
	if s.RatePerHop == 0 {
		s.RatePerHop = DefaultRatePerHop
	}
	if s.Concurrency <= 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.TimeoutMS <= 0 {
		s.TimeoutMS = int(DefaultTimeout / time.Millisecond)
	}
	if s.MaxDurationMS <= 0 {
		s.MaxDurationMS = int(DefaultMaxDuration / time.Millisecond)
	}
	if s.ResolvConf == "" {
		s.ResolvConf = "/etc/resolv.conf"
	}
	return s
}

// Validate checks the spec; errors name the field.
func (s Spec) Validate() error {
	if len(s.Names) == 0 {
		return fmt.Errorf("dns probe spec: names: at least one name is needed")
	}
	for i, n := range s.Names {
		if _, ok := dns.IsDomainName(n.Name); !ok || n.Name == "" {
			return fmt.Errorf("dns probe spec: names[%d]: %q is not a domain name", i, n.Name)
		}
	}
	for i, t := range s.Types {
		if _, ok := dns.StringToType[strings.ToUpper(t)]; !ok {
			return fmt.Errorf("dns probe spec: types[%d]: unknown query type %q", i, t)
		}
	}
	for i, t := range s.Transports {
		if t != "udp" && t != "tcp" {
			return fmt.Errorf("dns probe spec: transports[%d]: %q is not udp or tcp", i, t)
		}
	}
	for i, h := range s.Hops {
		host := h.Addr
		if hh, _, err := net.SplitHostPort(h.Addr); err == nil {
			host = hh
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("dns probe spec: hops[%d] (%s): address %q is not an IP", i, h.Name, h.Addr)
		}
	}
	return nil
}
