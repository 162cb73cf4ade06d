package dnsprobe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"
)

// Prober runs DNS probes. The zero value is ready to use; tests and callers
// may replace what touches the world.
type Prober struct {
	// ReadFile reads resolv.conf files (os.ReadFile when nil).
	ReadFile func(name string) ([]byte, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Dialer opens the query sockets (a zero net.Dialer when nil).
	Dialer *net.Dialer
}

func (p *Prober) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Prober) readFile(name string) ([]byte, error) {
	if p.ReadFile != nil {
		return p.ReadFile(name)
	}
	return os.ReadFile(name)
}

func (p *Prober) dialer() *net.Dialer {
	if p.Dialer != nil {
		return p.Dialer
	}
	return &net.Dialer{}
}

// ParseResolvConf parses a resolv.conf.
func ParseResolvConf(path string, b []byte) (*ResolvConf, error) {
	cc, err := dns.ClientConfigFromReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	rc := &ResolvConf{Path: path, Nameservers: cc.Servers, Search: cc.Search, Ndots: cc.Ndots}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[0] == "options" {
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	return rc, nil
}

// Run probes every hop of spec (plus those discovered from resolv.conf
// files) concurrently and returns what each answered. It stops at
// spec.MaxDurationMS or when ctx ends, and reports what it saw until then.
func (p *Prober) Run(ctx context.Context, spec Spec) (*Result, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	res := &Result{Started: p.now()}
	hops := append([]Hop(nil), spec.Hops...)
	if spec.ResolvConf != "-" {
		if b, err := p.readFile(spec.ResolvConf); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("read %s: %v", spec.ResolvConf, err))
		} else if rc, err := ParseResolvConf(spec.ResolvConf, b); err != nil {
			res.Notes = append(res.Notes, err.Error())
		} else {
			res.ResolvConf = rc
			var first []Hop
			for _, ns := range rc.Nameservers {
				h := Hop{Name: HopResolvConf, Addr: ns}
				// A nameserver that is also a named hop is probed once, under
				// its name (the kube-dns ClusterIP, NodeLocal DNS).
				if !hasAddr(spec.Hops, h.HostPort()) {
					first = append(first, h)
				}
			}
			hops = append(first, hops...)
		}
	}
	for _, path := range spec.UpstreamResolvConf {
		b, err := p.readFile(path)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("read %s: %v", path, err))
			continue
		}
		rc, err := ParseResolvConf(path, b)
		if err != nil {
			res.Notes = append(res.Notes, err.Error())
			continue
		}
		// A systemd-resolved stub (127.0.0.53) is not what CoreDNS uses.
		var ups []Hop
		for _, ns := range rc.Nameservers {
			if strings.HasPrefix(ns, "127.") {
				continue
			}
			ups = append(ups, Hop{Name: HopUpstream, Addr: ns, Kinds: []string{KindExternal}})
		}
		if len(ups) > 0 {
			hops = append(hops, ups...)
			break
		}
	}
	hops = dedupeHops(hops)

	ctx, cancel := context.WithTimeout(ctx, time.Duration(spec.MaxDurationMS)*time.Millisecond)
	defer cancel()
	res.Hops = make([]HopResult, len(hops))
	var wg sync.WaitGroup
	for i, h := range hops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Hops[i] = p.probeHop(ctx, spec, h)
		}()
	}
	wg.Wait()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Stopped = "max duration reached"
	case ctx.Err() != nil:
		res.Stopped = "cancelled"
	}
	res.DurationMS = ms(p.now().Sub(res.Started))
	return res, nil
}

func hasAddr(hops []Hop, hostPort string) bool {
	for _, h := range hops {
		if h.HostPort() == hostPort {
			return true
		}
	}
	return false
}

func dedupeHops(hops []Hop) []Hop {
	seen := map[string]bool{}
	var out []Hop
	for _, h := range hops {
		k := h.Name + "|" + h.HostPort()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, h)
	}
	return out
}

// job is one lookup: a single query, or an A+AAAA pair over UDP.
type job struct {
	series []int // indexes into the hop's series (1 or 2)
}

type acc struct {
	s      Series
	hist   Histogram
	rcodes [16]int
}

func (p *Prober) probeHop(ctx context.Context, spec Spec, h Hop) HopResult {
	hr := HopResult{Hop: h}
	index := map[string]int{}
	var series []Series
	add := func(n Name, typ, transport string) int {
		k := n.Name + "|" + typ + "|" + transport + "|" + fmt.Sprint(n.CacheBust)
		if i, ok := index[k]; ok {
			return i
		}
		series = append(series, Series{QName: n.Name, Kind: n.Kind, CacheBust: n.CacheBust, Type: strings.ToUpper(typ), Transport: transport, Rcodes: map[string]int{}})
		index[k] = len(series) - 1
		return len(series) - 1
	}
	// The jobs of one round: each name, type and transport once.
	var round []job
	pair := !spec.NoPair && hasType(spec.Types, "A") && hasType(spec.Types, "AAAA")
	for _, n := range spec.Names {
		if !h.wants(n.Kind) {
			continue
		}
		for _, tr := range spec.Transports {
			if tr == "udp" && pair {
				round = append(round, job{series: []int{add(n, "A", tr), add(n, "AAAA", tr)}})
				for _, t := range spec.Types {
					if u := strings.ToUpper(t); u != "A" && u != "AAAA" {
						round = append(round, job{series: []int{add(n, u, tr)}})
					}
				}
				continue
			}
			for _, t := range spec.Types {
				round = append(round, job{series: []int{add(n, t, tr)}})
			}
		}
	}
	if len(round) == 0 {
		return hr
	}
	var lim *rate.Limiter
	if spec.RatePerHop > 0 {
		burst := spec.Concurrency
		if burst < 2 {
			burst = 2
		}
		lim = rate.NewLimiter(rate.Limit(spec.RatePerHop), burst)
	}
	tcRetries := make([]atomic.Int32, len(series))
	// Workers claim lookups by number: round after round of each name,
	// type and transport, Count rounds in all.
	var next atomic.Int64
	total := int64(spec.Count) * int64(len(round))
	timeout := time.Duration(spec.TimeoutMS) * time.Millisecond
	accs := make([][]acc, spec.Concurrency)
	var wg sync.WaitGroup
	for w := 0; w < spec.Concurrency; w++ {
		local := make([]acc, len(series))
		for i := range local {
			local[i].s = Series{Rcodes: map[string]int{}}
		}
		accs[w] = local
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := worker{p: p, spec: spec, hop: h, addr: h.HostPort(), timeout: timeout, series: series, local: local, tcRetries: tcRetries,
				buf: make([]byte, 65535), packed: make([][]byte, len(series))}
			defer wk.close()
			for {
				n := next.Add(1) - 1
				if n >= total {
					return
				}
				j := round[n%int64(len(round))]
				if lim != nil {
					if err := lim.WaitN(ctx, len(j.series)); err != nil {
						return
					}
				}
				if ctx.Err() != nil {
					return
				}
				wk.do(ctx, j)
			}
		}()
	}
	wg.Wait()
	for i := range series {
		var hist Histogram
		s := &series[i]
		for _, local := range accs {
			a := &local[i]
			s.Sent += a.s.Sent
			s.Responses += a.s.Responses
			s.OK += a.s.OK
			s.Timeouts += a.s.Timeouts
			s.Errors += a.s.Errors
			s.Truncated += a.s.Truncated
			s.PairLoss += a.s.PairLoss
			s.TCPRetry.Tried += a.s.TCPRetry.Tried
			s.TCPRetry.OK += a.s.TCPRetry.OK
			if a.s.MaxSize > s.MaxSize {
				s.MaxSize = a.s.MaxSize
			}
			for rc, v := range a.rcodes {
				if v > 0 {
					s.Rcodes[rcodeName(rc)] += v
				}
			}
			if s.FirstError == "" {
				s.FirstError = a.s.FirstError
			}
			hist.Merge(&a.hist)
		}
		s.Latency = latencyOf(&hist)
		h := hist
		s.hist = &h
	}
	sortSeries(series)
	hr.Series = series
	return hr
}

func rcodeName(rc int) string {
	if n, ok := dns.RcodeToString[rc]; ok {
		return n
	}
	return fmt.Sprintf("RCODE%d", rc)
}

func hasType(types []string, t string) bool {
	for _, x := range types {
		if strings.EqualFold(x, t) {
			return true
		}
	}
	return false
}

type worker struct {
	// conn is the worker's UDP socket with Spec.ReuseSocket.
	conn      net.Conn
	packed    [][]byte // packed queries per series (nil: cache-busting)
	p         *Prober
	spec      Spec
	hop       Hop
	addr      string
	timeout   time.Duration
	series    []Series
	local     []acc
	tcRetries []atomic.Int32
	buf       []byte
}

func (w *worker) query(i int) *dns.Msg {
	s := w.series[i]
	m := new(dns.Msg)
	name := s.QName
	if s.CacheBust {
		name = fmt.Sprintf("nd%08x.%s", rand.Uint32(), strings.TrimPrefix(name, "."))
	}
	m.SetQuestion(dns.Fqdn(name), dns.StringToType[s.Type])
	if w.spec.UDPSize > 0 {
		m.SetEdns0(w.spec.UDPSize, false)
	}
	return m
}

func (w *worker) do(ctx context.Context, j job) {
	if w.series[j.series[0]].Transport == "tcp" {
		for _, i := range j.series {
			w.tcp(ctx, i, false)
		}
		return
	}
	w.udp(ctx, j.series)
}

// answer records a response to series i.
func (w *worker) answer(i int, rcode int, truncated bool, size int, rtt time.Duration) {
	a := &w.local[i]
	a.s.Responses++
	a.rcodes[rcode&0xf]++
	a.hist.Record(rtt)
	if size > a.s.MaxSize {
		a.s.MaxSize = size
	}
	if truncated {
		a.s.Truncated++
		return
	}
	if rcode == dns.RcodeSuccess {
		a.s.OK++
	}
}

func (w *worker) fail(i int, timeout bool, err error) {
	a := &w.local[i]
	if timeout {
		a.s.Timeouts++
	} else {
		a.s.Errors++
	}
	if a.s.FirstError == "" && err != nil {
		a.s.FirstError = err.Error()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
	}
}

// pack returns series i's query with a fresh ID, packed.
func (w *worker) pack(i int) ([]byte, error) {
	b := w.packed[i]
	if b == nil {
		m := w.query(i)
		var err error
		if b, err = m.Pack(); err != nil {
			return nil, err
		}
		if !w.series[i].CacheBust {
			w.packed[i] = b
		}
	}
	binary.BigEndian.PutUint16(b, dns.Id())
	return b, nil
}

// questionEnd returns the end of the question section of a packed query.
func questionEnd(b []byte) int {
	off := 12
	for off < len(b) && b[off] != 0 {
		off += int(b[off]) + 1
	}
	return off + 5 // the root label, QTYPE and QCLASS
}

// udp sends the queries of idx together from one socket and reads their
// answers: a new socket (a new source port and conntrack entry) per lookup
// as a libc resolver does, or the worker's own with Spec.ReuseSocket.
// Answers are read from the header: ID, QR, TC and rcode, and matched on
// the question.
func (w *worker) udp(ctx context.Context, idx []int) {
	conn := w.conn
	if conn == nil {
		c, err := w.p.dialer().DialContext(ctx, "udp", w.addr)
		if err != nil {
			for _, i := range idx {
				w.local[i].s.Sent++
				w.fail(i, isTimeout(err), err)
			}
			return
		}
		if w.spec.ReuseSocket {
			w.conn = c
		} else {
			defer c.Close()
		}
		conn = c
	}
	start := w.p.now()
	deadline := start.Add(w.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	type sent struct {
		i        int
		id       uint16
		question []byte
		done     bool
	}
	var pend [2]sent
	pending := pend[:0]
	for _, i := range idx {
		b, err := w.pack(i)
		for err == nil && len(pending) == 1 && binary.BigEndian.Uint16(b) == pending[0].id {
			b, err = w.pack(i)
		}
		if err == nil {
			_, err = conn.Write(b)
		}
		w.local[i].s.Sent++
		if err != nil {
			w.fail(i, isTimeout(err), err)
			continue
		}
		q := b[12:min(questionEnd(b), len(b))]
		pending = append(pending, sent{i: i, id: binary.BigEndian.Uint16(b), question: append([]byte(nil), q...)})
	}
	answered, left := 0, len(pending)
	var lost []int
	for left > 0 {
		n, err := conn.Read(w.buf)
		if err != nil {
			timeout := isTimeout(err)
			for k := range pending {
				if !pending[k].done {
					w.fail(pending[k].i, timeout, err)
					if timeout {
						lost = append(lost, pending[k].i)
					}
				}
			}
			if !timeout && w.conn != nil {
				// A refused socket stays refused: start afresh next time.
				w.conn.Close()
				w.conn = nil
			}
			break
		}
		rtt := w.p.now().Sub(start)
		b := w.buf[:n]
		if n < 12 || b[2]&0x80 == 0 {
			continue // not a response
		}
		id := binary.BigEndian.Uint16(b)
		k := -1
		for j := range pending {
			if !pending[j].done && pending[j].id == id {
				k = j
			}
		}
		if k < 0 {
			continue // stray or late answer
		}
		q := pending[k].question
		if binary.BigEndian.Uint16(b[4:]) > 0 && (n < 12+len(q) || !bytes.EqualFold(b[12:12+len(q)], q)) {
			continue // another question with the same ID
		}
		pending[k].done = true
		left--
		answered++
		i := pending[k].i
		truncated := b[2]&0x02 != 0
		w.answer(i, int(b[3]&0x0f), truncated, n, rtt)
		if truncated && w.tcRetries[i].Add(1) <= maxTCPRetries {
			w.tcp(ctx, i, true)
		}
	}
	// Pair loss: some of the lookup's queries were answered, others lost.
	if answered > 0 {
		for _, i := range lost {
			w.local[i].s.PairLoss++
		}
	}
}

// tcp sends query i over a new TCP connection. As a retry of a truncated
// UDP answer it only counts in TCPRetry.
func (w *worker) tcp(ctx context.Context, i int, retry bool) {
	c := &dns.Client{Net: "tcp", Timeout: w.timeout, Dialer: w.p.dialer()}
	m := w.query(i)
	qctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	start := w.p.now()
	r, _, err := c.ExchangeContext(qctx, m, w.addr)
	rtt := w.p.now().Sub(start)
	if retry {
		w.local[i].s.TCPRetry.Tried++
		if err == nil && r.Rcode == dns.RcodeSuccess && !r.Truncated {
			w.local[i].s.TCPRetry.OK++
		}
		return
	}
	w.local[i].s.Sent++
	if err != nil {
		w.fail(i, isTimeout(err), err)
		return
	}
	w.answer(i, r.Rcode, r.Truncated, r.Len(), rtt)
}
