package probe

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Verdict sums up a series of attempts.
type Verdict string

// Verdicts.
const (
	// VerdictOK: every attempt met the expectation.
	VerdictOK Verdict = "ok"
	// VerdictPersistent: every attempt failed.
	VerdictPersistent Verdict = "persistent"
	// VerdictIntermittent: some attempts failed, some did not.
	VerdictIntermittent Verdict = "intermittent"
	// VerdictNotRun: the probe could not run (Series.Error says why).
	VerdictNotRun Verdict = "not-run"
)

// Latency sums up the round-trip times of the attempts that succeeded.
type Latency struct {
	MinMillis float64 `json:"minMillis"`
	AvgMillis float64 `json:"avgMillis"`
	MaxMillis float64 `json:"maxMillis"`
}

// Series is one probe repeated: the expectation, every observation, and the
// verdict.
type Series struct {
	Spec    Spec    `json:"spec"`
	Verdict Verdict `json:"verdict"`
	// Attempts is the number of attempts made (at most Spec.Count).
	Attempts int `json:"attempts"`
	// Failures is the number of attempts that did not meet Spec.Expect.
	Failures int `json:"failures"`
	// FailureRate is Failures / Attempts, 0 to 1.
	FailureRate float64 `json:"failureRate"`
	// Outcomes counts the attempts by outcome.
	Outcomes map[Outcome]int `json:"outcomes"`
	// Dominant is the most frequent outcome among the failures ("" when
	// none failed).
	Dominant Outcome `json:"dominant,omitempty"`
	// Latency is over the attempts that met the expectation.
	Latency      *Latency      `json:"latency,omitempty"`
	Observations []Observation `json:"observations"`
	// Path is the per-hop report of a path probe.
	Path *PathReport `json:"path,omitempty"`
	// Stopped says why the series stopped before Spec.Count attempts.
	Stopped string `json:"stopped,omitempty"`
	// Error says why the probe could not run at all.
	Error string `json:"error,omitempty"`
}

// Failed reports whether any attempt failed or the probe could not run.
func (s Series) Failed() bool { return s.Verdict != VerdictOK }

// Summary renders the verdict in a few words, e.g. "intermittent 40% (timeout)".
func (s Series) Summary() string {
	switch s.Verdict {
	case VerdictOK:
		if s.Latency != nil {
			return fmt.Sprintf("ok %d/%d, avg %.1fms", s.Attempts, s.Attempts, s.Latency.AvgMillis)
		}
		return fmt.Sprintf("ok %d/%d", s.Attempts, s.Attempts)
	case VerdictPersistent:
		return fmt.Sprintf("persistent %s %d/%d", s.dominantText(), s.Failures, s.Attempts)
	case VerdictIntermittent:
		return fmt.Sprintf("intermittent %.0f%% %s %d/%d", 100*s.FailureRate, s.dominantText(), s.Failures, s.Attempts)
	}
	return "not run: " + s.Error
}

func (s Series) dominantText() string {
	if s.Dominant == HTTPStatus {
		for _, o := range s.Observations {
			if o.Outcome == HTTPStatus && o.HTTP != nil {
				return fmt.Sprintf("HTTP %d", o.HTTP.Status)
			}
		}
	}
	return string(s.Dominant)
}

// Run runs one probe Count times, Interval apart, within Deadline, and
// returns every observation and the verdict. It never runs longer than the
// spec's deadline (at most MaxDeadline) or ctx.
func (p *Prober) Run(ctx context.Context, spec Spec) Series {
	spec = spec.WithDefaults()
	s := Series{Spec: spec, Outcomes: map[Outcome]int{}, Observations: []Observation{}}
	if err := spec.Validate(); err != nil {
		s.Verdict, s.Error = VerdictNotRun, err.Error()
		return s
	}
	deadline := p.Now().Add(time.Duration(spec.Deadline))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(spec.Deadline))
	defer cancel()

	if spec.Kind == KindPath {
		rep, obs, stopped := p.path(ctx, spec, deadline)
		s.Path = rep
		s.Observations = append(s.Observations, obs...)
		s.Stopped = stopped
		if len(obs) == 0 {
			s.Verdict, s.Error = VerdictNotRun, stopped
			s.Stopped = ""
			return s
		}
		return summarize(s)
	}

	var ic *icmpConn
	if spec.Kind == KindICMP {
		var err error
		if ic, err = p.openICMP(); err != nil {
			s.Verdict, s.Error = VerdictNotRun, err.Error()
			return s
		}
		defer ic.c.Close()
	}
	for i := 1; i <= spec.Count; i++ {
		if i > 1 {
			if err := p.Sleep(ctx, time.Duration(spec.Interval)); err != nil {
				s.Stopped = fmt.Sprintf("stopped after %d of %d attempts: %v", i-1, spec.Count, err)
				break
			}
		}
		if !p.Now().Before(deadline) || ctx.Err() != nil {
			s.Stopped = fmt.Sprintf("stopped after %d of %d attempts: deadline %s reached", i-1, spec.Count, time.Duration(spec.Deadline))
			break
		}
		var o Observation
		switch spec.Kind {
		case KindTCP:
			o = p.tcpOnce(ctx, spec)
		case KindUDP:
			o = p.udpOnce(ctx, spec)
		case KindHTTP:
			o = p.httpOnce(ctx, spec)
		case KindICMP:
			o = p.icmpOnce(ctx, spec, ic, i)
		}
		o.Seq = i
		s.Observations = append(s.Observations, o)
	}
	if len(s.Observations) == 0 {
		s.Verdict, s.Error = VerdictNotRun, s.Stopped
		return s
	}
	return summarize(s)
}

// summarize computes the verdict, counts and latency from the observations.
func summarize(s Series) Series {
	s.Attempts = len(s.Observations)
	s.Failures = 0
	s.Outcomes = map[Outcome]int{}
	failed := map[Outcome]int{}
	var rtts []float64
	for _, o := range s.Observations {
		s.Outcomes[o.Outcome]++
		if s.Spec.Expect.Match(o) {
			rtts = append(rtts, o.RTTMillis)
			continue
		}
		s.Failures++
		failed[o.Outcome]++
	}
	if s.Attempts > 0 {
		s.FailureRate = math.Round(1000*float64(s.Failures)/float64(s.Attempts)) / 1000
	}
	switch {
	case s.Attempts == 0:
		s.Verdict = VerdictNotRun
	case s.Failures == 0:
		s.Verdict = VerdictOK
	case s.Failures == s.Attempts:
		s.Verdict = VerdictPersistent
	default:
		s.Verdict = VerdictIntermittent
	}
	s.Dominant = ""
	best := 0
	for _, o := range sortedOutcomes(failed) {
		if failed[o] > best {
			s.Dominant, best = o, failed[o]
		}
	}
	if len(rtts) > 0 {
		l := &Latency{MinMillis: rtts[0], MaxMillis: rtts[0]}
		sum := 0.0
		for _, r := range rtts {
			sum += r
			l.MinMillis = math.Min(l.MinMillis, r)
			l.MaxMillis = math.Max(l.MaxMillis, r)
		}
		l.AvgMillis = round3(sum / float64(len(rtts)))
		s.Latency = l
	}
	return s
}

func sortedOutcomes(m map[Outcome]int) []Outcome {
	out := make([]Outcome, 0, len(m))
	for o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// MaxParallel bounds how many probes of one request run at once.
const MaxParallel = 8

// RunAll runs several probes side by side (at most MaxParallel at once) and
// returns their series in the order given.
func (p *Prober) RunAll(ctx context.Context, specs []Spec) []Series {
	out := make([]Series, len(specs))
	sem := make(chan struct{}, MaxParallel)
	var wg sync.WaitGroup
	for i, sp := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = p.Run(ctx, sp)
		}()
	}
	wg.Wait()
	return out
}

// Comparison puts a TCP and a UDP series to the same host:port side by side
// (seed 004: "see if TCP or UDP is working differently").
type Comparison struct {
	Target         string  `json:"target"`
	TCP            Verdict `json:"tcp"`
	UDP            Verdict `json:"udp"`
	TCPFailureRate float64 `json:"tcpFailureRate"`
	UDPFailureRate float64 `json:"udpFailureRate"`
	// TCPOnly is true when TCP fails (some or all attempts) while UDP to the
	// same target works every time: something in the path treats TCP
	// differently, e.g. a firewall that lets TCP's returning ACKs in only on
	// some ports.
	TCPOnly bool `json:"tcpOnly"`
	// Note says what the comparison means.
	Note string `json:"note"`
}

// CompareTransports pairs the tcp and udp series that share a target.
func CompareTransports(series []Series) []Comparison {
	udp := map[string]Series{}
	for _, s := range series {
		if s.Spec.Kind == KindUDP {
			udp[s.Spec.Target] = s
		}
	}
	var out []Comparison
	for _, t := range series {
		if t.Spec.Kind != KindTCP {
			continue
		}
		u, ok := udp[t.Spec.Target]
		if !ok {
			continue
		}
		c := Comparison{Target: t.Spec.Target, TCP: t.Verdict, UDP: u.Verdict, TCPFailureRate: t.FailureRate, UDPFailureRate: u.FailureRate}
		switch {
		case t.Verdict == VerdictNotRun || u.Verdict == VerdictNotRun:
			c.Note = "not compared: one of the probes did not run"
		case t.Verdict == VerdictOK && u.Verdict == VerdictOK:
			c.Note = "TCP and UDP both work"
		case u.Verdict == VerdictOK:
			c.TCPOnly = true
			c.Note = fmt.Sprintf("TCP %s (%.0f%% failed) while UDP works every time: TCP needs its returning packets (SYN-ACK, ACKs) let back in; check the ephemeral/SNAT port range against what the firewall allows back", t.Verdict, 100*t.FailureRate)
		case t.Verdict == VerdictOK:
			c.Note = fmt.Sprintf("UDP %s while TCP works: UDP is filtered or the service does not answer UDP", u.Verdict)
		default:
			c.Note = "TCP and UDP both fail"
		}
		out = append(out, c)
	}
	return out
}
