package dnsprobe

import (
	"bufio"
	"bytes"
	"context"
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
	s    Series
	hist Histogram
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
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for i := 0; i < spec.Count; i++ {
			for _, j := range round {
				select {
				case jobs <- j:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
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
			wk := worker{p: p, spec: spec, hop: h, addr: h.HostPort(), timeout: timeout, series: series, local: local, tcRetries: tcRetries, buf: make([]byte, 65535)}
			for j := range jobs {
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
			for k, v := range a.s.Rcodes {
				s.Rcodes[k] += v
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

func hasType(types []string, t string) bool {
	for _, x := range types {
		if strings.EqualFold(x, t) {
			return true
		}
	}
	return false
}

type worker struct {
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
func (w *worker) answer(i int, r *dns.Msg, size int, rtt time.Duration) {
	a := &w.local[i]
	a.s.Responses++
	a.s.Rcodes[dns.RcodeToString[r.Rcode]]++
	a.hist.Record(rtt)
	if size > a.s.MaxSize {
		a.s.MaxSize = size
	}
	if r.Truncated {
		a.s.Truncated++
		return
	}
	if r.Rcode == dns.RcodeSuccess {
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

// udp sends the queries of idx together from one new socket (a new source
// port per lookup, as a libc resolver does) and reads their answers.
func (w *worker) udp(ctx context.Context, idx []int) {
	conn, err := w.p.dialer().DialContext(ctx, "udp", w.addr)
	if err != nil {
		for _, i := range idx {
			w.local[i].s.Sent++
			w.fail(i, isTimeout(err), err)
		}
		return
	}
	defer conn.Close()
	start := w.p.now()
	deadline := start.Add(w.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	pending := make(map[uint16]int, len(idx))
	msgs := make(map[uint16]*dns.Msg, len(idx))
	for _, i := range idx {
		m := w.query(i)
		for pending[m.Id] != 0 || msgs[m.Id] != nil {
			m.Id = dns.Id()
		}
		b, err := m.Pack()
		if err == nil {
			_, err = conn.Write(b)
		}
		w.local[i].s.Sent++
		if err != nil {
			w.fail(i, isTimeout(err), err)
			continue
		}
		pending[m.Id] = i
		msgs[m.Id] = m
	}
	answered := 0
	var lost []int
	for len(pending) > 0 {
		n, err := conn.Read(w.buf)
		if err != nil {
			for id, i := range pending {
				timeout := isTimeout(err)
				w.fail(i, timeout, err)
				if timeout {
					lost = append(lost, i)
				}
				delete(pending, id)
			}
			break
		}
		rtt := w.p.now().Sub(start)
		r := new(dns.Msg)
		uerr := r.Unpack(w.buf[:n])
		i, ok := pending[r.Id]
		if !ok {
			continue // stray or duplicate answer
		}
		if uerr != nil && !r.Truncated {
			w.fail(i, false, fmt.Errorf("malformed answer: %w", uerr))
			delete(pending, r.Id)
			continue
		}
		if len(r.Question) > 0 && !strings.EqualFold(r.Question[0].Name, msgs[r.Id].Question[0].Name) {
			continue
		}
		delete(pending, r.Id)
		answered++
		w.answer(i, r, n, rtt)
		if r.Truncated && w.tcRetries[i].Add(1) <= maxTCPRetries {
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
	size := r.Len()
	w.answer(i, r, size, rtt)
}
