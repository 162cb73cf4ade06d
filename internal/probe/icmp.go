package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// icmpConn is an open ICMP socket and how to address it.
type icmpConn struct {
	c   *icmp.PacketConn
	raw bool
	id  int
}

func (p *Prober) openICMP() (*icmpConn, error) {
	network, addr := "udp4", "0.0.0.0"
	if p.Privileged {
		network = "ip4:icmp"
	}
	c, err := p.ListenICMP(network, addr)
	if err != nil {
		if p.Privileged {
			return nil, fmt.Errorf("open raw ICMP socket (needs root or CAP_NET_RAW): %w", err)
		}
		return nil, fmt.Errorf("open unprivileged ICMP socket (net.ipv4.ping_group_range must include this group; or run as root): %w", err)
	}
	ic := &icmpConn{c: c, raw: p.Privileged, id: rand.IntN(0xffff) + 1}
	if !ic.raw {
		// The kernel rewrites the echo identifier of a ping socket to its
		// local port and only delivers replies that match it.
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
			ic.id = ua.Port
		}
	}
	return ic, nil
}

func (ic *icmpConn) dst(ip net.IP) net.Addr {
	if ic.raw {
		return &net.IPAddr{IP: ip}
	}
	return &net.UDPAddr{IP: ip}
}

func (ic *icmpConn) send(ip net.IP, seq int) error {
	m := icmp.Message{
		Type: ipv4.ICMPTypeEcho,
		Body: &icmp.Echo{ID: ic.id, Seq: seq & 0xffff, Data: []byte("netdoctor-probe")},
	}
	b, err := m.Marshal(nil)
	if err != nil {
		return fmt.Errorf("marshal echo: %w", err)
	}
	if _, err := ic.c.WriteTo(b, ic.dst(ip)); err != nil {
		return fmt.Errorf("send echo to %s: %w", ip, err)
	}
	return nil
}

// reply is one ICMP message that answers one of our echoes.
type reply struct {
	from net.IP
	seq  int
	// kind is "echo-reply", "time-exceeded" or "unreachable".
	kind string
	// code is the ICMP code of an unreachable.
	code int
	at   time.Time
}

// recv reads until a message that answers one of our echoes arrives, or the
// deadline passes (os.ErrDeadlineExceeded).
func (ic *icmpConn) recv(deadline time.Time, now func() time.Time) (reply, error) {
	_ = ic.c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for {
		n, peer, err := ic.c.ReadFrom(buf)
		if err != nil {
			return reply{}, err
		}
		at := now()
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil {
			continue
		}
		var from net.IP
		switch a := peer.(type) {
		case *net.IPAddr:
			from = a.IP
		case *net.UDPAddr:
			from = a.IP
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if m.Type != ipv4.ICMPTypeEchoReply || (ic.raw && body.ID != ic.id) {
				continue
			}
			return reply{from: from, seq: body.Seq, kind: "echo-reply", at: at}, nil
		case *icmp.TimeExceeded:
			if seq, ok := ic.inner(body.Data); ok {
				return reply{from: from, seq: seq, kind: "time-exceeded", at: at}, nil
			}
		case *icmp.DstUnreach:
			if seq, ok := ic.inner(body.Data); ok {
				return reply{from: from, seq: seq, kind: "unreachable", code: m.Code, at: at}, nil
			}
		}
	}
}

// inner reads our echo's identifier and sequence from the original datagram
// an ICMP error quotes (IP header plus the first 8 bytes).
func (ic *icmpConn) inner(data []byte) (int, bool) {
	if len(data) < 20 {
		return 0, false
	}
	ihl := int(data[0]&0x0f) * 4
	if ihl < 20 || len(data) < ihl+8 || data[9] != 1 || data[ihl] != byte(ipv4.ICMPTypeEcho) {
		return 0, false
	}
	id := int(binary.BigEndian.Uint16(data[ihl+4:]))
	seq := int(binary.BigEndian.Uint16(data[ihl+6:]))
	if ic.raw && id != ic.id {
		return 0, false
	}
	return seq, true
}

func (p *Prober) resolveIP(ctx context.Context, host string) (net.IP, error) {
	s, err := p.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(s)
	if ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("%s: icmp and path probes support IPv4 only, got %s", host, s)
	}
	return ip.To4(), nil
}

// icmpOnce sends one echo request and waits for its reply.
func (p *Prober) icmpOnce(ctx context.Context, s Spec, ic *icmpConn, seq int) Observation {
	var o Observation
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.Timeout))
	defer cancel()
	ip, err := p.resolveIP(ctx, s.Target)
	if err != nil {
		o.Outcome, o.Detail = DNSError, err.Error()
		return o
	}
	o.Remote = ip.String()
	start := p.Now()
	if err := ic.send(ip, seq); err != nil {
		o.Outcome, o.Detail = Classify(err)
		return o
	}
	deadline, _ := ctx.Deadline()
	for {
		r, err := ic.recv(deadline, p.Now)
		if err != nil {
			o.RTTMillis = p.since(start)
			o.Outcome, o.Detail = Classify(err)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				o.Outcome, o.Detail = Timeout, "no echo reply before the timeout"
			}
			return o
		}
		if r.seq != seq&0xffff {
			continue
		}
		o.RTTMillis = millis(r.at.Sub(start))
		switch r.kind {
		case "echo-reply":
			o.Outcome = OK
		case "unreachable":
			o.Outcome, o.Detail = NoRoute, fmt.Sprintf("ICMP destination unreachable (code %d) from %s", r.code, r.from)
		case "time-exceeded":
			o.Outcome, o.Detail = NoRoute, fmt.Sprintf("TTL exceeded at %s (routing loop?)", r.from)
		}
		return o
	}
}

// Hop is one TTL of a path probe, as `mtr -r` prints it.
type Hop struct {
	TTL int `json:"ttl"`
	// Host is the address that answered at this TTL ("" when none did);
	// Others lists other addresses that answered (load-balanced paths).
	Host   string   `json:"host,omitempty"`
	Others []string `json:"others,omitempty"`
	Sent   int      `json:"sent"`
	Recv   int      `json:"recv"`
	// LossPct is the percentage of probes at this TTL that got no answer.
	LossPct     float64 `json:"lossPct"`
	LastMillis  float64 `json:"lastMillis"`
	AvgMillis   float64 `json:"avgMillis"`
	BestMillis  float64 `json:"bestMillis"`
	WorstMillis float64 `json:"worstMillis"`
	StdDev      float64 `json:"stdDevMillis"`
	// Unreachable is set when this hop answered "destination unreachable".
	Unreachable bool `json:"unreachable,omitempty"`
}

// PathReport is the result of a path probe.
type PathReport struct {
	Target string `json:"target"`
	// Reached is true when the destination answered at least once.
	Reached bool  `json:"reached"`
	Hops    []Hop `json:"hops"`
}

// hopAcc accumulates one TTL's answers.
type hopAcc struct {
	sent        int
	rtts        []float64
	hosts       map[string]int
	unreachable bool
}

// path runs `mtr -r -c Count` to the target: every cycle sends one echo per
// TTL (1..MaxHops, then up to the destination's TTL once it is known) and
// collects time-exceeded and echo replies. One observation per cycle
// records whether the destination answered.
func (p *Prober) path(ctx context.Context, s Spec, deadline time.Time) (*PathReport, []Observation, string) {
	rep := &PathReport{Target: s.Target}
	if !p.Privileged {
		return rep, nil, "path probe needs a raw ICMP socket (run as root or with CAP_NET_RAW)"
	}
	ip, err := p.resolveIP(ctx, s.Target)
	if err != nil {
		return rep, []Observation{{Seq: 1, Outcome: DNSError, Detail: err.Error()}}, ""
	}
	ic, err := p.openICMP()
	if err != nil {
		return rep, nil, err.Error()
	}
	defer ic.c.Close()
	pc := ic.c.IPv4PacketConn()
	if pc == nil {
		return rep, nil, "path probe: socket does not allow setting the TTL"
	}
	acc := make([]hopAcc, s.MaxHops+1)
	destTTL := 0
	var obs []Observation
	stopped := ""
	for cycle := 1; cycle <= s.Count; cycle++ {
		if cycle > 1 {
			if err := p.Sleep(ctx, time.Duration(s.Interval)); err != nil {
				stopped = "stopped: " + err.Error()
				break
			}
		}
		if !p.Now().Before(deadline) {
			stopped = fmt.Sprintf("stopped after %d of %d cycles: deadline reached", cycle-1, s.Count)
			break
		}
		maxTTL := s.MaxHops
		if destTTL > 0 {
			maxTTL = destTTL
		}
		sentAt := map[int]time.Time{}
		for ttl := 1; ttl <= maxTTL; ttl++ {
			if err := pc.SetTTL(ttl); err != nil {
				return rep, obs, fmt.Sprintf("set TTL %d: %v", ttl, err)
			}
			seq := (cycle<<6 | ttl) & 0xffff
			sentAt[seq] = p.Now()
			if err := ic.send(ip, seq); err != nil {
				o, d := Classify(err)
				obs = append(obs, Observation{Seq: cycle, Outcome: o, Detail: d, Remote: ip.String()})
				return rep, obs, ""
			}
			acc[ttl].sent++
		}
		cycleObs := Observation{Seq: cycle, Remote: ip.String(), Outcome: Timeout, Detail: "destination did not answer this cycle"}
		wait := p.Now().Add(time.Duration(s.Timeout))
		if wait.After(deadline) {
			wait = deadline
		}
		answered := map[int]bool{}
		for len(answered) < maxTTL {
			r, err := ic.recv(wait, p.Now)
			if err != nil {
				break
			}
			at, ok := sentAt[r.seq]
			if !ok || answered[r.seq] {
				continue
			}
			answered[r.seq] = true
			ttl := r.seq & 0x3f
			h := &acc[ttl]
			if h.hosts == nil {
				h.hosts = map[string]int{}
			}
			rtt := millis(r.at.Sub(at))
			h.rtts = append(h.rtts, rtt)
			h.hosts[r.from.String()]++
			switch r.kind {
			case "echo-reply":
				if destTTL == 0 || ttl < destTTL {
					destTTL = ttl
				}
				if cycleObs.Outcome != OK || ttl <= destTTL {
					cycleObs.Outcome, cycleObs.Detail, cycleObs.RTTMillis = OK, "", rtt
				}
			case "unreachable":
				h.unreachable = true
				if cycleObs.Outcome != OK {
					cycleObs.Outcome, cycleObs.Detail = NoRoute, fmt.Sprintf("destination unreachable from %s at hop %d", r.from, ttl)
				}
			}
		}
		obs = append(obs, cycleObs)
	}
	rep.Reached = destTTL > 0
	rep.Hops = hops(acc, destTTL)
	return rep, obs, stopped
}

// hops turns the per-TTL accumulators into mtr-style rows, ending at the
// destination, or one row after the last hop that answered.
func hops(acc []hopAcc, destTTL int) []Hop {
	last := destTTL
	if last == 0 {
		for ttl := len(acc) - 1; ttl >= 1; ttl-- {
			if len(acc[ttl].rtts) > 0 {
				last = ttl + 1
				break
			}
		}
		if last == 0 {
			last = 1
		}
		if last >= len(acc) {
			last = len(acc) - 1
		}
	}
	var out []Hop
	for ttl := 1; ttl <= last; ttl++ {
		a := acc[ttl]
		h := Hop{TTL: ttl, Sent: a.sent, Recv: len(a.rtts), Unreachable: a.unreachable}
		if a.sent > 0 {
			h.LossPct = math.Round(1000*float64(a.sent-h.Recv)/float64(a.sent)) / 10
		}
		if h.Recv > 0 {
			h.LastMillis = a.rtts[len(a.rtts)-1]
			h.BestMillis, h.WorstMillis = a.rtts[0], a.rtts[0]
			sum := 0.0
			for _, r := range a.rtts {
				sum += r
				h.BestMillis = math.Min(h.BestMillis, r)
				h.WorstMillis = math.Max(h.WorstMillis, r)
			}
			h.AvgMillis = round3(sum / float64(h.Recv))
			v := 0.0
			for _, r := range a.rtts {
				v += (r - h.AvgMillis) * (r - h.AvgMillis)
			}
			h.StdDev = round3(math.Sqrt(v / float64(h.Recv)))
			type hc struct {
				host string
				n    int
			}
			var hs []hc
			for host, n := range a.hosts {
				hs = append(hs, hc{host, n})
			}
			sort.Slice(hs, func(i, j int) bool {
				if hs[i].n != hs[j].n {
					return hs[i].n > hs[j].n
				}
				return hs[i].host < hs[j].host
			})
			h.Host = hs[0].host
			for _, x := range hs[1:] {
				h.Others = append(h.Others, x.host)
			}
		}
		out = append(out, h)
	}
	return out
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
