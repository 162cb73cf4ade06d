// Package trace follows a packet through a node's iptables rules the way
// kube-proxy's own packet-flow tests do (kubernetes/kubernetes
// pkg/proxy/iptables/proxier_test.go, tracePacket): nat PREROUTING (or
// OUTPUT for a packet the node sends), then the filter chains kube-proxy
// writes (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS,
// KUBE-PROXY-FIREWALL, KUBE-FIREWALL for the KUBE-MARK-DROP mark of
// kube-proxy before 1.25, and KUBE-FORWARD for a forwarded packet), then
// nat POSTROUTING for masquerading.
//
// The packet is the first packet of a new connection from a new client:
// conntrack state NEW, no mark, not yet in any "recent" list (so session
// affinity rules do not match, and are reported). A "statistic" match
// splits the packet into branches with their probabilities; the result is
// the set of DNAT destinations each with its probability. A rule whose
// match cannot be evaluated from the dump (ipsets, interfaces, sockets,
// unknown modules) is never treated as matching; it is reported in
// Result.Warnings.
package trace

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/netdoctor/netdoctor/internal/iptables"
)

// Verdict is what happens to the packet.
type Verdict string

// Verdicts.
const (
	// DNAT: the packet is rewritten to one of Result.Destinations.
	DNAT Verdict = "DNAT"
	// Accept: a filter rule accepts it without DNAT.
	Accept Verdict = "ACCEPT"
	// Drop: a rule drops it silently (the client times out).
	Drop Verdict = "DROP"
	// Reject: a rule rejects it (the client gets "connection refused" or
	// an ICMP error).
	Reject Verdict = "REJECT"
	// None: no kube-proxy rule applies; the packet goes on unchanged.
	None Verdict = "none"
)

// Packet is the first packet of a connection.
type Packet struct {
	Src, Dst netip.Addr
	// Proto is "tcp", "udp" or "sctp".
	Proto   string
	SrcPort int // 0: unknown (rules on the source port are not matched)
	DstPort int
	// Local marks a packet sent by the node itself (nat OUTPUT) rather
	// than one arriving at it (nat PREROUTING).
	Local bool
}

// String renders "proto src -> dst:port".
func (p Packet) String() string {
	return fmt.Sprintf("%s %s -> %s", p.Proto, p.Src, netip.AddrPortFrom(p.Dst, uint16(p.DstPort)))
}

// Step is one rule the packet matched.
type Step struct {
	Table string `json:"table"`
	Chain string `json:"chain"`
	// Rule is the rule's number in its chain, from 1.
	Rule int `json:"rule"`
	// Line is the rule's line in the dump.
	Line int    `json:"line"`
	Text string `json:"text"`
	// Target is the rule's target ("KUBE-SVC-...", "DNAT", ...) and Comment
	// its comment; both are in Text too.
	Target  string `json:"-"`
	Comment string `json:"-"`
	// ToDestination is a DNAT rule's --to-destination.
	ToDestination string `json:"-"`
}

// String renders "table chain rule N (line L)".
func (s Step) String() string {
	return fmt.Sprintf("%s %s rule %d (line %d)", s.Table, s.Chain, s.Rule, s.Line)
}

// Destination is one DNAT destination.
type Destination struct {
	IP          string  `json:"ip"`
	Port        int     `json:"port"`
	Probability float64 `json:"probability"`
	// Masquerade: the packet's source is rewritten on the way to this
	// destination.
	Masquerade bool `json:"-"`
	// Path is the packet's path to this destination.
	Path []Step `json:"-"`
}

// Affinity describes ClientIP session affinity met on the way.
type Affinity struct {
	// TimeoutSeconds is how long a client sticks to its endpoint.
	TimeoutSeconds int `json:"timeoutSeconds"`
	// Step is the rule that sends a returning client to its endpoint.
	Step Step `json:"step"`
}

// Result is what the tracer found.
type Result struct {
	Verdict      Verdict       `json:"verdict"`
	Destinations []Destination `json:"destinations"`
	Masquerade   bool          `json:"masquerade"`
	// Path lists every rule matched, in the order first met.
	Path []Step `json:"path"`
	// SessionAffinity is set when the Service has ClientIP affinity: a
	// returning client goes to the endpoint it had; the probabilities are
	// those of a new client.
	SessionAffinity []Affinity `json:"sessionAffinity,omitempty"`
	// Decision is the rule that decided a DROP, REJECT or ACCEPT verdict.
	Decision *Step `json:"decision,omitempty"`
	// Warnings lists rules that could not be evaluated and were taken as
	// not matching.
	Warnings []string `json:"warnings,omitempty"`
}

// Tracer traces packets through one node's rules. It compiles the chains
// a trace visits on first use, so it is not safe for concurrent use.
type Tracer struct {
	nat, filter *ctable
	local       map[netip.Addr]bool
}

// New prepares a dump's nat and filter tables for tracing. nodeIPs are the
// node's own addresses (for "-m addrtype --dst-type LOCAL"); loopback is
// always local. A rule with a malformed value (a port, mark or address)
// is never taken as matching; Result.Warnings names its line when a trace
// meets it.
func New(d *iptables.Dump, nodeIPs []netip.Addr) (*Tracer, error) {
	t := &Tracer{local: map[netip.Addr]bool{}}
	for _, ip := range nodeIPs {
		t.local[ip.Unmap()] = true
	}
	if tab := d.Table("nat"); tab != nil {
		t.nat = newCTable(tab)
	}
	if tab := d.Table("filter"); tab != nil {
		t.filter = newCTable(tab)
	}
	return t, nil
}

// The filter chains kube-proxy writes, in the order its tests run them,
// then KUBE-FIREWALL, where kube-proxy before 1.25 dropped the packets its
// nat rules marked with KUBE-MARK-DROP (0x8000).
var filterChains = []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"}

const (
	maxDepth  = 64
	maxLeaves = 4096
	// maxSteps bounds the rules one trace evaluates (branches of
	// branches of looping chains could otherwise grow without bound).
	maxSteps = 1_000_000
)

// pstate is the packet as rules see it on one branch.
type pstate struct {
	src, dst netip.Addr
	proto    string
	sport    int
	dport    int
	mark     uint32
	dnatted  bool
	markMasq bool
}

type leafKind uint8

const (
	leafFall leafKind = iota // left the chain without a verdict
	leafAccept
	leafDrop
	leafReject
	leafDNAT
	leafMasq
)

type leaf struct {
	kind leafKind
	mass float64
	st   pstate
	path []*crule
	by   *crule
}

type walker struct {
	t        *Tracer
	leaves   []leaf
	warnings map[*crule]string
	affinity map[*crule]bool
	order    []*crule // warnings/affinity in order met
	trunc    bool
	steps    int
}

// Trace follows one packet.
func (t *Tracer) Trace(p Packet) Result {
	st := pstate{src: p.Src.Unmap(), dst: p.Dst.Unmap(), proto: p.Proto, sport: p.SrcPort, dport: p.DstPort}
	w := &walker{t: t}

	// nat: PREROUTING, or OUTPUT for a packet the node sends. A dump of
	// kube-proxy's own chains only (as in its tests) starts at
	// KUBE-SERVICES.
	start := "PREROUTING"
	if p.Local {
		start = "OUTPUT"
	}
	var natLeaves []leaf
	if t.nat != nil {
		c := t.nat.chain(start)
		if c == nil {
			c = t.nat.chain("KUBE-SERVICES")
		}
		if c != nil {
			w.leaves = nil
			w.run(c, 0, nil, st, 1, nil)
			natLeaves = w.leaves
		}
	}
	if natLeaves == nil {
		natLeaves = []leaf{{kind: leafFall, mass: 1, st: st}}
	}

	type final struct {
		verdict Verdict
		mass    float64
		st      pstate
		path    []*crule
		fpath   []*crule // filter
		ppath   []*crule // POSTROUTING
		by      *crule
		masq    bool
	}
	var finals []final
	for _, nl := range natLeaves {
		f := final{mass: nl.mass, st: nl.st, path: nl.path}
		switch nl.kind {
		case leafDNAT:
			f.verdict = DNAT
		case leafDrop:
			f.verdict, f.by = Drop, nl.by
		case leafReject:
			f.verdict, f.by = Reject, nl.by
		default:
			f.verdict = None
		}
		if f.verdict == DNAT || f.verdict == None {
			v, by, path := w.filter(f.st, p.Local)
			f.fpath = path
			switch v {
			case Drop, Reject:
				f.verdict, f.by = v, by
			case Accept:
				if f.verdict == None {
					f.verdict, f.by = Accept, by
				}
			}
		}
		if f.verdict == DNAT || f.verdict == None || f.verdict == Accept {
			f.masq, f.ppath = w.postrouting(f.st)
		}
		finals = append(finals, f)
	}

	// The verdict is the one with the most probability mass.
	mass := map[Verdict]float64{}
	for _, f := range finals {
		mass[f.verdict] += f.mass
	}
	res := Result{Verdict: None, Destinations: []Destination{}, Path: []Step{}}
	best := -1.0
	for _, v := range []Verdict{None, Accept, DNAT, Drop, Reject} {
		m, ok := mass[v]
		if !ok {
			continue
		}
		if m > best+1e-12 || (m > best-1e-12 && verdictRank(v) > verdictRank(res.Verdict)) {
			best, res.Verdict = m, v
		}
	}
	seen := map[*crule]bool{}
	destIdx := map[netip.AddrPort]int{}
	// The path: nat first, then filter, then POSTROUTING.
	for phase := 0; phase < 3; phase++ {
		for _, f := range finals {
			for _, cr := range [][]*crule{f.path, f.fpath, f.ppath}[phase] {
				if !seen[cr] {
					seen[cr] = true
					res.Path = append(res.Path, step(cr))
				}
			}
		}
	}
	for _, f := range finals {
		if f.verdict == res.Verdict && f.by != nil && res.Decision == nil {
			s := step(f.by)
			res.Decision = &s
		}
		if f.verdict != DNAT {
			continue
		}
		res.Masquerade = res.Masquerade || f.masq
		ap := netip.AddrPortFrom(f.st.dst, uint16(f.st.dport))
		if i, ok := destIdx[ap]; ok {
			res.Destinations[i].Probability += f.mass
			res.Destinations[i].Masquerade = res.Destinations[i].Masquerade || f.masq
			continue
		}
		destIdx[ap] = len(res.Destinations)
		d := Destination{IP: f.st.dst.String(), Port: f.st.dport, Probability: f.mass, Masquerade: f.masq}
		for _, p := range [][]*crule{f.path, f.fpath, f.ppath} {
			for _, cr := range p {
				d.Path = append(d.Path, step(cr))
			}
		}
		res.Destinations = append(res.Destinations, d)
	}
	if res.Verdict != DNAT {
		// Masquerading matters only for a packet that is delivered.
		for _, f := range finals {
			if f.verdict == res.Verdict {
				res.Masquerade = res.Masquerade || f.masq
			}
		}
	}
	for i := range res.Destinations {
		res.Destinations[i].Probability = round(res.Destinations[i].Probability)
	}
	for _, cr := range w.order {
		if why, ok := w.warnings[cr]; ok {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s; taken as not matching: %s", step(cr), why, cr.r.Text))
		}
		if w.affinity[cr] {
			res.SessionAffinity = append(res.SessionAffinity, Affinity{TimeoutSeconds: cr.seconds, Step: step(cr)})
		}
	}
	if w.trunc {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the trace stopped early (more than %d branches or %d rules evaluated): the result is incomplete", maxLeaves, maxSteps))
	}
	return res
}

func verdictRank(v Verdict) int {
	switch v {
	case Reject:
		return 5
	case Drop:
		return 4
	case DNAT:
		return 3
	case Accept:
		return 2
	}
	return 1
}

// warn records a warning about a rule, once.
func (w *walker) warn(cr *crule, why string) {
	if _, seen := w.warnings[cr]; seen {
		return
	}
	if w.warnings == nil {
		w.warnings = map[*crule]string{}
	}
	w.warnings[cr] = why
	w.order = append(w.order, cr)
}

func round(p float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(p, 'f', 6, 64), 64)
	return f
}

func step(cr *crule) Step {
	s := Step{Table: cr.r.Table, Chain: cr.r.Chain, Rule: cr.r.Num, Line: cr.r.Line, Text: cr.r.Text,
		Target: cr.r.Target.Name, Comment: cr.r.Comment()}
	if o, ok := cr.r.Target.Opt("--to-destination"); ok {
		s.ToDestination = o.Arg()
	}
	return s
}

// filter runs kube-proxy's filter chains; DROP and REJECT win over ACCEPT.
func (w *walker) filter(st pstate, local bool) (Verdict, *crule, []*crule) {
	if w.t.filter == nil {
		return None, nil, nil
	}
	chains := filterChains
	if !local && (st.dnatted || !w.isLocal(st.dst)) {
		chains = append(chains[:len(chains):len(chains)], "KUBE-FORWARD")
	}
	verdict, by := None, (*crule)(nil)
	var path []*crule
	rank := func(v Verdict) int {
		switch v {
		case Reject, Drop:
			return 3
		case Accept:
			return 2
		}
		return 1
	}
	for _, name := range chains {
		c := w.t.filter.chain(name)
		if c == nil {
			continue
		}
		w.leaves = nil
		w.run(c, 0, nil, st, 1, nil)
		for _, l := range w.leaves {
			path = append(path, l.path...)
			v := None
			switch l.kind {
			case leafAccept:
				v = Accept
			case leafDrop:
				v = Drop
			case leafReject:
				v = Reject
			}
			if rank(v) > rank(verdict) {
				verdict, by = v, l.by
			}
		}
	}
	return verdict, by, path
}

// postrouting runs nat POSTROUTING and reports whether the packet is
// masqueraded (MASQUERADE or SNAT). Without a POSTROUTING chain it reports
// kube-proxy's mark (a jump to KUBE-MARK-MASQ), as kube-proxy's tests do.
func (w *walker) postrouting(st pstate) (bool, []*crule) {
	c := w.t.nat.chain("POSTROUTING")
	if c == nil {
		return st.markMasq, nil
	}
	w.leaves = nil
	w.run(c, 0, nil, st, 1, nil)
	masq := false
	var path []*crule
	for _, l := range w.leaves {
		path = append(path, l.path...)
		if l.kind == leafMasq {
			masq = true
		}
	}
	return masq, path
}

type frame struct {
	c   *cchain
	idx int
}

// run walks chain c from rule idx with a return stack; each terminal
// target or fall-through off the bottom of the stack becomes a leaf.
func (w *walker) run(c *cchain, idx int, stack []frame, st pstate, mass float64, path []*crule) {
	c.compile()
	for {
		for {
			if idx = c.next(idx, st.dst, st.dport); idx >= len(c.rules) {
				break
			}
			cr := c.rule(idx)
			idx++
			if w.steps++; w.steps > maxSteps {
				w.trunc = true
				return
			}
			ok, why := w.matches(cr, &st)
			if why != "" {
				w.warn(cr, why)
				continue
			}
			if !ok {
				continue
			}
			if cr.rcheck {
				if !w.affinity[cr] {
					if w.affinity == nil {
						w.affinity = map[*crule]bool{}
					}
					w.affinity[cr] = true
					w.order = append(w.order, cr)
				}
				continue
			}
			if len(w.leaves) >= maxLeaves {
				w.trunc = true
				return
			}
			if cr.prob < 1 {
				// Branch: the rule takes mass*p; the rest goes on.
				taken := append(path[:len(path):len(path)], cr)
				tstack := append([]frame(nil), stack...)
				if cr.prob > 0 {
					w.apply(cr, c, idx, tstack, st, mass*cr.prob, taken)
				}
				mass *= 1 - cr.prob
				if mass < 1e-12 {
					return
				}
				continue
			}
			path = append(path[:len(path):len(path)], cr)
			if !w.apply(cr, c, idx, stack, st, mass, path) {
				return
			}
			// a non-terminating target: MARK, LOG, no target
			if cr.kind == tMark {
				st.mark = applyMark(st.mark, cr)
			}
		}
		// Off the end of the chain: back to the caller, or a leaf.
		if len(stack) == 0 {
			w.leaves = append(w.leaves, leaf{kind: leafFall, mass: mass, st: st, path: path})
			return
		}
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, idx = f.c, f.idx
		c.compile()
	}
}

// apply performs a matched rule's target. It reports whether the walk goes
// on in the current chain (a non-terminating target); otherwise it has
// recorded the leaf or walked the continuation itself.
func (w *walker) apply(cr *crule, c *cchain, idx int, stack []frame, st pstate, mass float64, path []*crule) bool {
	switch cr.kind {
	case tNone, tContinue:
		if cr.prob < 1 {
			w.run(c, idx, stack, st, mass, path)
			return false
		}
		return true
	case tMark:
		if cr.prob < 1 {
			st.mark = applyMark(st.mark, cr)
			w.run(c, idx, stack, st, mass, path)
			return false
		}
		return true
	case tUnknown:
		w.warn(cr, fmt.Sprintf("target %q is not understood (taken as non-terminating)", cr.unknownTarget))
		if cr.prob < 1 {
			w.run(c, idx, stack, st, mass, path)
			return false
		}
		return true
	case tAccept:
		w.leaves = append(w.leaves, leaf{kind: leafAccept, mass: mass, st: st, path: path, by: cr})
	case tDrop:
		w.leaves = append(w.leaves, leaf{kind: leafDrop, mass: mass, st: st, path: path, by: cr})
	case tReject:
		w.leaves = append(w.leaves, leaf{kind: leafReject, mass: mass, st: st, path: path, by: cr})
	case tMasquerade:
		w.leaves = append(w.leaves, leaf{kind: leafMasq, mass: mass, st: st, path: path, by: cr})
	case tDNAT:
		st.dst = cr.dnatIP
		if cr.dnatPort != 0 {
			st.dport = cr.dnatPort
		}
		st.dnatted = true
		w.leaves = append(w.leaves, leaf{kind: leafDNAT, mass: mass, st: st, path: path, by: cr})
	case tReturn:
		if len(stack) == 0 {
			w.leaves = append(w.leaves, leaf{kind: leafFall, mass: mass, st: st, path: path})
			return false
		}
		f := stack[len(stack)-1]
		w.run(f.c, f.idx, stack[:len(stack)-1], st, mass, path)
	case tJump, tGoto:
		if len(stack) >= maxDepth {
			w.warn(cr, fmt.Sprintf("chains nest deeper than %d", maxDepth))
			return false
		}
		if cr.markMasq {
			st.markMasq = true
		}
		if cr.kind == tJump {
			stack = append(stack[:len(stack):len(stack)], frame{c, idx})
		}
		w.run(cr.jump, 0, stack, st, mass, path)
	}
	return false
}

func applyMark(mark uint32, cr *crule) uint32 {
	switch cr.markOp {
	case markSetX:
		return (mark &^ cr.markM) ^ cr.markV
	case markSet:
		return (mark &^ cr.markM) | cr.markV
	case markOr:
		return mark | cr.markV
	case markAnd:
		return mark & cr.markV
	case markXor:
		return mark ^ cr.markV
	}
	return mark
}

func (w *walker) isLocal(a netip.Addr) bool {
	return a.IsLoopback() || w.t.local[a]
}

// matches evaluates a rule's conditions. why is set when the rule would
// match but for a condition that cannot be evaluated.
func (w *walker) matches(cr *crule, st *pstate) (ok bool, why string) {
	for i := range cr.conds {
		c := &cr.conds[i]
		var m bool
		switch c.kind {
		case cProto:
			m = c.str == "all" || c.str == st.proto
		case cSrc:
			m = c.pfx.Contains(st.src)
		case cDst:
			m = c.pfx.Contains(st.dst)
		case cSrcRange:
			m = st.src.Compare(c.lo) >= 0 && st.src.Compare(c.hi) <= 0
		case cDstRange:
			m = st.dst.Compare(c.lo) >= 0 && st.dst.Compare(c.hi) <= 0
		case cDport:
			m = inPorts(c.ports, st.dport)
		case cSport:
			if st.sport == 0 {
				if why == "" {
					why = "the source port is not known"
				}
				continue
			}
			m = inPorts(c.ports, st.sport)
		case cSrcType:
			m = w.addrType(st.src)&c.types != 0
		case cDstType:
			m = w.addrType(st.dst)&c.types != 0
		case cMark:
			m = st.mark&c.m == c.v
		case cConnmark:
			m = 0&c.m == c.v
		case cCtstate:
			state := ctNew
			if st.dnatted {
				state |= ctDNAT
			}
			m = state&c.types != 0
		case cSyn:
			m = st.proto == "tcp"
		case cTCPFlags:
			m = st.proto == "tcp" && uint32(flagSYN&c.types) == c.v
		case cNever:
			m = false
		case cUnknown:
			if why == "" {
				why = c.str
			}
			continue
		}
		if m == c.neg {
			return false, ""
		}
	}
	return why == "", why
}

func inPorts(ports []portRange, p int) bool {
	for _, r := range ports {
		if p >= int(r.lo) && p <= int(r.hi) {
			return true
		}
	}
	return false
}

func (w *walker) addrType(a netip.Addr) uint8 {
	switch {
	case w.isLocal(a):
		return atLocal
	case a.IsMulticast():
		return atMulticast
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return atBroadcast
	}
	return atUnicast
}

// KubeProxyOutput renders a result the way kube-proxy's tracePacket does:
// the DNAT destinations "ip:port, ip:port", or "ACCEPT", "DROP",
// "REJECT", or "" for none.
func (r Result) KubeProxyOutput() string {
	switch r.Verdict {
	case DNAT:
		dests := append([]Destination(nil), r.Destinations...)
		out := ""
		for i, d := range dests {
			if i > 0 {
				out += ", "
			}
			out += netip.AddrPortFrom(netip.MustParseAddr(d.IP), uint16(d.Port)).String()
		}
		return out
	case None:
		return ""
	}
	return string(r.Verdict)
}
