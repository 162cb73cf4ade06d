package nodedata

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// MaxDestinations bounds the destinations kept in a ConnectionSummary (the
// busiest ones).
const MaxDestinations = 500

// ConnectionSummary is connections.json: the node's connection tracking
// table summarised per destination, for the SNAT analysis.
type ConnectionSummary struct {
	// Source is where the table came from: "/proc/net/nf_conntrack" or
	// "conntrack -L".
	Source string `json:"source"`
	// Entries is the number of entries read (every protocol).
	Entries int `json:"entries"`
	// TCPEstablished and TCPSynSent count every TCP entry in that state.
	TCPEstablished int `json:"tcpEstablished"`
	TCPSynSent     int `json:"tcpSynSent"`
	// Destinations holds TCP destinations (original direction, ip:port)
	// with at least one ESTABLISHED or SYN_SENT entry, busiest first, at
	// most MaxDestinations.
	Destinations []DestinationCount `json:"destinations"`
	// Truncated is set when destinations beyond MaxDestinations were left out.
	Truncated bool `json:"truncated,omitempty"`
	// Sources holds, per original source address (a pod IP, or the node's
	// own), the TCP connections to public destinations (not private,
	// loopback or link-local): who holds the SNAT ports. Busiest first, at
	// most MaxSources.
	Sources []SourceCount `json:"sources,omitempty"`
	// Unparsed counts lines that were not conntrack entries; FirstUnparsed
	// names the first as file:line.
	Unparsed      int    `json:"unparsed,omitempty"`
	FirstUnparsed string `json:"firstUnparsed,omitempty"`
}

// MaxSources bounds the sources kept in a ConnectionSummary.
const MaxSources = 200

// SourceCount is the TCP connections one source address holds to public
// destinations.
type SourceCount struct {
	IP          netip.Addr `json:"ip"`
	Established int        `json:"established"`
	SynSent     int        `json:"synSent"`
}

// DestinationCount is the TCP connections of one destination.
type DestinationCount struct {
	IP   netip.Addr `json:"ip"`
	Port int        `json:"port"`
	// Established and SynSent count entries in those states.
	Established int `json:"established"`
	SynSent     int `json:"synSent"`
	// SNAT counts the entries the node source-NATed (the reply goes to an
	// address other than the original source: pod traffic leaving through
	// the node's address).
	SNAT int `json:"snat"`
}

// ConntrackEntry is one parsed connection tracking entry.
type ConntrackEntry struct {
	Proto     string
	State     string // TCP only
	OrigSrc   netip.Addr
	OrigDst   netip.Addr
	OrigDport int
	ReplyDst  netip.Addr
	Unreplied bool
}

// ParseConntrackLine parses one line of `conntrack -L` or of
// /proc/net/nf_conntrack, e.g.
//
//	ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.0.5 dst=20.50.2.3 sport=53422 dport=443 src=20.50.2.3 dst=10.240.0.4 sport=443 dport=53422 [ASSURED] mark=0 zone=0 use=2
func ParseConntrackLine(line string) (ConntrackEntry, error) {
	f := strings.Fields(line)
	if len(f) > 0 && (f[0] == "ipv4" || f[0] == "ipv6") {
		if len(f) < 2 {
			return ConntrackEntry{}, fmt.Errorf("short entry")
		}
		f = f[2:]
	}
	if len(f) < 3 {
		return ConntrackEntry{}, fmt.Errorf("short entry")
	}
	e := ConntrackEntry{Proto: f[0]}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return e, fmt.Errorf("want a protocol number after %q, got %q", f[0], f[1])
	}
	rest := f[3:] // after proto, protonum, timeout
	if e.Proto == "tcp" && len(rest) > 0 && !strings.Contains(rest[0], "=") {
		e.State = rest[0]
		rest = rest[1:]
	}
	srcs, dsts := 0, 0
	for _, kv := range rest {
		if kv == "[UNREPLIED]" {
			e.Unreplied = true
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch k {
		case "src":
			srcs++
			if srcs == 1 {
				a, err := netip.ParseAddr(v)
				if err != nil {
					return e, fmt.Errorf("src=%q: %w", v, err)
				}
				e.OrigSrc = a
			}
		case "dst":
			dsts++
			a, err := netip.ParseAddr(v)
			if err != nil {
				return e, fmt.Errorf("dst=%q: %w", v, err)
			}
			if dsts == 1 {
				e.OrigDst = a
			} else if dsts == 2 {
				e.ReplyDst = a
			}
		case "dport":
			if e.OrigDport == 0 {
				n, err := strconv.Atoi(v)
				if err != nil {
					return e, fmt.Errorf("dport=%q: %w", v, err)
				}
				e.OrigDport = n
			}
		}
	}
	if !e.OrigSrc.IsValid() || !e.OrigDst.IsValid() {
		return e, fmt.Errorf("no src=/dst= fields")
	}
	return e, nil
}

// SummariseConnections reads a connection table (one entry per line) and
// counts TCP ESTABLISHED and SYN_SENT entries per destination. Lines that
// are not entries are counted in Unparsed, not fatal, because the table
// changes while it is read. file names the source.
func SummariseConnections(file string, r io.Reader) (ConnectionSummary, error) {
	sum := ConnectionSummary{Source: file}
	type key struct {
		ip   netip.Addr
		port int
	}
	counts := map[key]*DestinationCount{}
	sources := map[netip.Addr]*SourceCount{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		e, err := ParseConntrackLine(line)
		if err != nil {
			sum.Unparsed++
			if sum.FirstUnparsed == "" {
				sum.FirstUnparsed = fmt.Sprintf("%s:%d: %v", file, lineNo, err)
			}
			continue
		}
		sum.Entries++
		if e.Proto != "tcp" || (e.State != "ESTABLISHED" && e.State != "SYN_SENT") {
			continue
		}
		k := key{e.OrigDst, e.OrigDport}
		c := counts[k]
		if c == nil {
			c = &DestinationCount{IP: e.OrigDst, Port: e.OrigDport}
			counts[k] = c
		}
		if e.State == "ESTABLISHED" {
			c.Established++
			sum.TCPEstablished++
		} else {
			c.SynSent++
			sum.TCPSynSent++
		}
		if e.ReplyDst.IsValid() && e.ReplyDst != e.OrigSrc {
			c.SNAT++
		}
		if d := e.OrigDst; d.IsValid() && !d.IsPrivate() && !d.IsLoopback() && !d.IsLinkLocalUnicast() {
			src := sources[e.OrigSrc]
			if src == nil {
				src = &SourceCount{IP: e.OrigSrc}
				sources[e.OrigSrc] = src
			}
			if e.State == "ESTABLISHED" {
				src.Established++
			} else {
				src.SynSent++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("%s:%d: %w", file, lineNo, err)
	}
	sum.Destinations = make([]DestinationCount, 0, len(counts))
	for _, c := range counts {
		sum.Destinations = append(sum.Destinations, *c)
	}
	sort.Slice(sum.Destinations, func(i, j int) bool {
		a, b := sum.Destinations[i], sum.Destinations[j]
		if ta, tb := a.Established+a.SynSent, b.Established+b.SynSent; ta != tb {
			return ta > tb
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		return a.Port < b.Port
	})
	if len(sum.Destinations) > MaxDestinations {
		sum.Destinations = sum.Destinations[:MaxDestinations]
		sum.Truncated = true
	}
	for _, src := range sources {
		sum.Sources = append(sum.Sources, *src)
	}
	sort.Slice(sum.Sources, func(i, j int) bool {
		a, b := sum.Sources[i], sum.Sources[j]
		if ta, tb := a.Established+a.SynSent, b.Established+b.SynSent; ta != tb {
			return ta > tb
		}
		return a.IP.Less(b.IP)
	})
	if len(sum.Sources) > MaxSources {
		sum.Sources = sum.Sources[:MaxSources]
		sum.Truncated = true
	}
	return sum, nil
}
