package dnsprobe

import (
	"sort"
	"time"
)

// Result is a probe run's output: the "dns" agent request's result, and
// the content of probes/dns.json (one per place probed).
type Result struct {
	// Where describes the place probed, e.g. "pod default/web-1 on node-1"
	// or "node node-1"; set by the caller.
	Where string `json:"where,omitempty"`
	// Node is the node the probe ran on, when known.
	Node string `json:"node,omitempty"`
	// View is "pod" (the pod network) or "node" (the node's network).
	View string `json:"view,omitempty"`
	// Pod is namespace/name of the pod the probe ran beside, if any.
	Pod string `json:"pod,omitempty"`
	// ResolvConf is the resolv.conf the probe read, if any.
	ResolvConf *ResolvConf `json:"resolvConf,omitempty"`
	// Hops are the results per hop, in the order probed.
	Hops []HopResult `json:"hops"`
	// Started is when the run began; DurationMS how long it took.
	Started    time.Time `json:"started"`
	DurationMS float64   `json:"durationMS"`
	// Stopped is set when the run ended before every query was sent
	// ("max duration reached", "cancelled").
	Stopped string `json:"stopped,omitempty"`
	// Notes are problems that did not stop the run (an unreadable file).
	Notes []string `json:"notes,omitempty"`
}

// HopResult is what one hop answered.
type HopResult struct {
	Hop Hop `json:"hop"`
	// Series are the results per name, type and transport.
	Series []Series `json:"series"`
}

// Totals sums the hop's series, optionally only those of one name kind
// (kind "" sums every series).
func (h HopResult) Totals(kind string) Series {
	return h.totals(func(s Series) bool { return kind == "" || s.Kind == kind })
}

// Names lists the names the hop was asked, as Series.Display renders them,
// in series order.
func (h HopResult) Names() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range h.Series {
		if d := s.Display(); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// TotalsOf sums the series of one name (as Series.Display renders it).
func (h HopResult) TotalsOf(name string) Series {
	t := h.totals(func(s Series) bool { return s.Display() == name })
	for _, s := range h.Series {
		if s.Display() == name {
			t.QName, t.Kind, t.CacheBust = s.QName, s.Kind, s.CacheBust
			break
		}
	}
	return t
}

func (h HopResult) totals(keep func(Series) bool) Series {
	var t Series
	t.Rcodes = map[string]int{}
	var hist Histogram
	for _, s := range h.Series {
		if !keep(s) {
			continue
		}
		t.Sent += s.Sent
		t.Responses += s.Responses
		t.OK += s.OK
		t.Timeouts += s.Timeouts
		t.Errors += s.Errors
		t.Truncated += s.Truncated
		t.PairLoss += s.PairLoss
		t.TCPRetry.Tried += s.TCPRetry.Tried
		t.TCPRetry.OK += s.TCPRetry.OK
		for k, v := range s.Rcodes {
			t.Rcodes[k] += v
		}
		if s.Latency.MaxMS > t.Latency.MaxMS {
			t.Latency.MaxMS = s.Latency.MaxMS
		}
		if s.hist != nil {
			hist.Merge(s.hist)
		}
		if t.FirstError == "" {
			t.FirstError = s.FirstError
		}
	}
	if hist.Count() > 0 {
		t.Latency = latencyOf(&hist)
	} else {
		// Decoded from JSON: no histogram; keep the worst per-series figures.
		for _, s := range h.Series {
			if !keep(s) {
				continue
			}
			if s.Latency.P50MS > t.Latency.P50MS {
				t.Latency.P50MS = s.Latency.P50MS
			}
			if s.Latency.P99MS > t.Latency.P99MS {
				t.Latency.P99MS = s.Latency.P99MS
			}
		}
	}
	return t
}

// Series is the outcome of asking one name, type and transport repeatedly.
type Series struct {
	// QName is the name asked; with CacheBust, the name under which each
	// query asked a new random label.
	QName     string `json:"qname"`
	Kind      string `json:"kind"`
	CacheBust bool   `json:"cacheBust,omitempty"`
	Type      string `json:"type"`
	Transport string `json:"transport"`
	// Sent counts queries sent; Responses those answered (any rcode); OK
	// those answered NOERROR and not truncated.
	Sent      int `json:"sent"`
	Responses int `json:"responses"`
	OK        int `json:"ok"`
	// Timeouts counts queries with no answer within the timeout.
	Timeouts int `json:"timeouts"`
	// Errors counts other failures (refused connection, ICMP unreachable).
	Errors int `json:"errors"`
	// Rcodes counts answers by rcode name (NOERROR, NXDOMAIN, SERVFAIL...).
	Rcodes map[string]int `json:"rcodes"`
	// Truncated counts UDP answers with the TC bit set.
	Truncated int `json:"truncated"`
	// TCPRetry records asking a truncated UDP query again over TCP.
	TCPRetry Retry `json:"tcpRetry"`
	// PairLoss counts UDP queries lost while their A/AAAA partner, sent
	// together from the same socket, was answered.
	PairLoss int `json:"pairLoss"`
	// MaxSize is the largest answer in bytes.
	MaxSize int `json:"maxSize"`
	// Latency of the answers.
	Latency Latency `json:"latency"`
	// FirstError is the first failure's message.
	FirstError string `json:"firstError,omitempty"`

	hist *Histogram
}

// Display renders the name asked: "nd*.svc.cluster.local" for cache busting.
func (s Series) Display() string {
	if s.CacheBust {
		return "nd*." + s.QName
	}
	return s.QName
}

// Answered counts the answers that carry a DNS verdict: every response
// except SERVFAIL and REFUSED (NXDOMAIN and truncated answers included).
func (s Series) Answered() int {
	return s.Responses - s.Rcodes["SERVFAIL"] - s.Rcodes["REFUSED"]
}

// AnswerRate is Answered/Sent (0 when nothing was sent).
func (s Series) AnswerRate() float64 {
	if s.Sent == 0 {
		return 0
	}
	return float64(s.Answered()) / float64(s.Sent)
}

// SuccessRate is OK/Sent (0 when nothing was sent).
func (s Series) SuccessRate() float64 {
	if s.Sent == 0 {
		return 0
	}
	return float64(s.OK) / float64(s.Sent)
}

// Retry counts retries and their successes.
type Retry struct {
	Tried int `json:"tried"`
	OK    int `json:"ok"`
}

// Latency summarises answer latencies in milliseconds.
type Latency struct {
	P50MS float64 `json:"p50MS"`
	P99MS float64 `json:"p99MS"`
	MaxMS float64 `json:"maxMS"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(h *Histogram) Latency {
	return Latency{P50MS: ms(h.Quantile(0.50)), P99MS: ms(h.Quantile(0.99)), MaxMS: ms(h.Max())}
}

// ResolvConf is what a resolv.conf says.
type ResolvConf struct {
	Path        string   `json:"path"`
	Nameservers []string `json:"nameservers"`
	Search      []string `json:"search,omitempty"`
	Ndots       int      `json:"ndots"`
	Options     []string `json:"options,omitempty"`
}

func sortSeries(ss []Series) {
	sort.SliceStable(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if a.Display() != b.Display() {
			return a.Display() < b.Display()
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Transport > b.Transport // udp before tcp
	})
}
