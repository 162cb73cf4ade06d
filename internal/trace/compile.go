package trace

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/netdoctor/netdoctor/internal/iptables"
)

type condKind uint8

const (
	cProto condKind = iota
	cSrc
	cDst
	cSrcRange
	cDstRange
	cDport
	cSport
	cSrcType
	cDstType
	cMark
	cConnmark
	cCtstate
	cSyn
	cTCPFlags
	cNever
	cUnknown
)

type portRange struct{ lo, hi uint16 }

// cond is one compiled condition of a rule.
type cond struct {
	kind  condKind
	neg   bool
	str   string // protocol; reason for cUnknown
	pfx   netip.Prefix
	lo    netip.Addr
	hi    netip.Addr
	ports []portRange
	types uint8 // addrtype bits; ctstate bits; tcp flag mask
	v, m  uint32
}

// addrtype bits
const (
	atLocal uint8 = 1 << iota
	atUnicast
	atBroadcast
	atMulticast
)

// ctstate bits
const (
	ctNew uint8 = 1 << iota
	ctEstablished
	ctRelated
	ctInvalid
	ctUntracked
	ctSNAT
	ctDNAT
)

type targetKind uint8

const (
	tNone targetKind = iota
	tAccept
	tDrop
	tReject
	tReturn
	tJump
	tGoto
	tDNAT
	tMasquerade // MASQUERADE and SNAT
	tMark
	tContinue // a non-terminating extension target (LOG, CONNMARK, ...)
	tUnknown
)

type markOp uint8

const (
	markSetX markOp = iota
	markSet
	markOr
	markAnd
	markXor
)

// crule is a compiled rule.
type crule struct {
	r        *iptables.Rule
	compiled bool
	conds    []cond
	prob     float64
	kind     targetKind
	jump     *cchain
	// DNAT destination
	dnatIP   netip.Addr
	dnatPort int
	// MARK
	markOp   markOp
	markV    uint32
	markM    uint32
	markMasq bool // a jump to KUBE-MARK-MASQ
	// recent: --rcheck/--update (a returning client) and its --seconds
	rcheck  bool
	seconds int
	// unknownTarget names an extension target that is not evaluated.
	unknownTarget string
}

type cchain struct {
	c        *iptables.Chain
	table    *ctable
	compiled bool
	rules    []crule
	// A long chain (kube-proxy's KUBE-SERVICES holds a rule per Service
	// IP and port) is indexed by the single destination address its rules
	// require: a packet only meets the rules for its destination and the
	// rules that require none (others).
	// Rules without one are indexed by the single destination port they
	// require (kube-proxy's KUBE-NODEPORTS).
	byDst  map[netip.Addr][]int
	byPort map[int][]int
	others []int
}

// indexMin is the chain length from which chains are indexed.
const indexMin = 32

// next returns the first rule at or after idx that a packet to dst and
// dport can match (len(rules) when none).
func (c *cchain) next(idx int, dst netip.Addr, dport int) int {
	if c.byDst == nil {
		return idx
	}
	best := len(c.rules)
	first := func(l []int) {
		if j := sort.SearchInts(l, idx); j < len(l) && l[j] < best {
			best = l[j]
		}
	}
	first(c.byDst[dst])
	first(c.byPort[dport])
	first(c.others)
	return best
}

// exactPort returns the single destination port a rule requires.
func exactPort(r *iptables.Rule) (int, bool) {
	for _, m := range r.Matches {
		switch m.Module {
		case "tcp", "udp", "sctp":
		default:
			continue
		}
		if o, ok := m.Opt("--dport", "--destination-port"); ok && !o.Neg {
			if p, err := strconv.ParseUint(o.Arg(), 10, 16); err == nil {
				return int(p), true
			}
		}
	}
	return 0, false
}

// exactDst returns the single address a rule requires as destination.
func exactDst(r *iptables.Rule) (netip.Addr, bool) {
	if o, ok := r.BasicOpt("-d"); ok && !o.Neg {
		if p, err := iptables.ParsePrefix(o.Arg()); err == nil && p.IsSingleIP() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// compile prepares the chain on first use (a trace visits a few chains
// of the thousands kube-proxy writes); its rules compile when first met. A
// rule that does not compile (a malformed port, mark or address) is kept as
// one that cannot be evaluated, with the error naming its line.
func (c *cchain) compile() {
	if c.compiled {
		return
	}
	c.compiled = true
	c.rules = make([]crule, len(c.c.Rules))
	if len(c.rules) < indexMin {
		return
	}
	c.byDst = map[netip.Addr][]int{}
	c.byPort = map[int][]int{}
	for i, r := range c.c.Rules {
		if a, ok := exactDst(r); ok {
			c.byDst[a] = append(c.byDst[a], i)
		} else if p, ok := exactPort(r); ok {
			c.byPort[p] = append(c.byPort[p], i)
		} else {
			c.others = append(c.others, i)
		}
	}
}

// rule returns rule i compiled.
func (c *cchain) rule(i int) *crule {
	cr := &c.rules[i]
	if !cr.compiled {
		r := c.c.Rules[i]
		if err := compileRule(cr, r, c.table); err != nil {
			*cr = crule{r: r, prob: 1, kind: tNone, conds: []cond{{kind: cUnknown, str: err.Error()}}}
		}
		cr.compiled = true
	}
	return cr
}

func lineErr(r *iptables.Rule, format string, args ...any) error {
	return fmt.Errorf("line %d (%s %s rule %d): %s", r.Line, r.Table, r.Chain, r.Num, fmt.Sprintf(format, args...))
}

// ctable is a table whose chains are prepared for tracing on first use:
// a trace visits a few of the thousands of chains kube-proxy writes.
type ctable struct {
	t      *iptables.Table
	chains map[*iptables.Chain]*cchain
}

func newCTable(t *iptables.Table) *ctable {
	return &ctable{t: t, chains: map[*iptables.Chain]*cchain{}}
}

// chain returns the named chain (not yet compiled), or nil.
func (ct *ctable) chain(name string) *cchain {
	if ct == nil {
		return nil
	}
	c := ct.t.Chain(name)
	if c == nil {
		return nil
	}
	cc := ct.chains[c]
	if cc == nil {
		cc = &cchain{c: c, table: ct}
		ct.chains[c] = cc
	}
	return cc
}

func compileRule(cr *crule, r *iptables.Rule, ct *ctable) error {
	cr.r = r
	cr.prob = 1
	for _, o := range r.Basic {
		switch o.Name {
		case "-p":
			cr.conds = append(cr.conds, cond{kind: cProto, neg: o.Neg, str: normProto(o.Arg())})
		case "-s", "-d":
			p, err := iptables.ParsePrefix(o.Arg())
			if err != nil {
				return lineErr(r, "%v", err)
			}
			k := cSrc
			if o.Name == "-d" {
				k = cDst
			}
			cr.conds = append(cr.conds, cond{kind: k, neg: o.Neg, pfx: p})
		case "-i", "-o":
			cr.conds = append(cr.conds, cond{kind: cUnknown, str: fmt.Sprintf("interface match %s %s", o.Name, o.Arg())})
		case "-f":
			// A first packet is not a fragment.
			if !o.Neg {
				cr.conds = append(cr.conds, cond{kind: cNever})
			}
		}
	}
	for _, m := range r.Matches {
		if err := compileMatch(cr, r, m); err != nil {
			return err
		}
	}
	return compileTarget(cr, r, ct)
}

func normProto(p string) string {
	switch strings.ToLower(p) {
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "132":
		return "sctp"
	case "0":
		return "all"
	}
	return strings.ToLower(p)
}

func compileMatch(cr *crule, r *iptables.Rule, m iptables.Match) error {
	unknown := func(why string) {
		cr.conds = append(cr.conds, cond{kind: cUnknown, str: why})
	}
	if !m.Known {
		unknown(fmt.Sprintf("match %q is not understood", m.Module))
		return nil
	}
	switch m.Module {
	case "comment", "nfacct", "limit":
		// No effect on whether a packet matches.
	case "tcp", "udp", "sctp", "multiport":
		for _, o := range m.Opts {
			switch o.Name {
			case "--dport", "--destination-port", "--dports", "--destination-ports", "--sport", "--source-port", "--sports", "--source-ports", "--ports":
				ports, err := parsePorts(o.Arg())
				if err != nil {
					return lineErr(r, "%s: %v", o.Name, err)
				}
				k := cDport
				if strings.HasPrefix(o.Name, "--s") {
					k = cSport
				}
				if o.Name == "--ports" {
					// either port: the packet's destination port is known.
					k = cDport
				}
				cr.conds = append(cr.conds, cond{kind: k, neg: o.Neg, ports: ports})
			case "--syn":
				cr.conds = append(cr.conds, cond{kind: cSyn, neg: o.Neg})
			case "--tcp-flags":
				args := o.Args()
				if len(args) != 2 {
					return lineErr(r, "bad --tcp-flags %v", args)
				}
				mask, err1 := tcpFlags(args[0])
				comp, err2 := tcpFlags(args[1])
				if err1 != nil || err2 != nil {
					return lineErr(r, "bad --tcp-flags %v", args)
				}
				cr.conds = append(cr.conds, cond{kind: cTCPFlags, neg: o.Neg, types: mask, v: uint32(comp)})
			default:
				unknown(fmt.Sprintf("option %s of match %s", o.Name, m.Module))
			}
		}
	case "statistic":
		mode, _ := m.Opt("--mode")
		switch mode.Arg() {
		case "random":
			o, _ := m.Opt("--probability")
			p, err := strconv.ParseFloat(o.Arg(), 64)
			if err != nil || p < 0 || p > 1 {
				return lineErr(r, "bad --probability %q", o.Arg())
			}
			if o.Neg {
				p = 1 - p
			}
			cr.prob *= p
		case "nth":
			o, _ := m.Opt("--every")
			n, err := strconv.Atoi(o.Arg())
			if err != nil || n < 1 {
				return lineErr(r, "bad --every %q", o.Arg())
			}
			p := 1 / float64(n)
			if o.Neg {
				p = 1 - p
			}
			cr.prob *= p
		default:
			unknown(fmt.Sprintf("statistic mode %q", mode.Arg()))
		}
	case "recent":
		for _, o := range m.Opts {
			switch o.Name {
			case "--rcheck", "--update", "--remove":
				// A new client is not in the list yet.
				// "! --rcheck" matches a client not in the list: always.
				cr.rcheck = !o.Neg
			case "--seconds":
				cr.seconds, _ = strconv.Atoi(o.Arg())
			}
		}
	case "addrtype":
		for _, o := range m.Opts {
			switch o.Name {
			case "--src-type", "--dst-type":
				bits, err := addrTypes(o.Arg())
				if err != nil {
					unknown(err.Error())
					continue
				}
				k := cSrcType
				if o.Name == "--dst-type" {
					k = cDstType
				}
				cr.conds = append(cr.conds, cond{kind: k, neg: o.Neg, types: bits})
			default:
				unknown(fmt.Sprintf("addrtype %s", o.Name))
			}
		}
	case "mark", "connmark":
		o, _ := m.Opt("--mark")
		v, mask, err := parseMark(o.Arg())
		if err != nil {
			return lineErr(r, "%v", err)
		}
		k := cMark
		if m.Module == "connmark" {
			k = cConnmark
		}
		cr.conds = append(cr.conds, cond{kind: k, neg: o.Neg, v: v, m: mask})
	case "conntrack", "state":
		for _, o := range m.Opts {
			switch o.Name {
			case "--ctstate", "--state":
				bits, err := ctStates(o.Arg())
				if err != nil {
					return lineErr(r, "%v", err)
				}
				cr.conds = append(cr.conds, cond{kind: cCtstate, neg: o.Neg, types: bits})
			default:
				unknown(fmt.Sprintf("conntrack %s", o.Name))
			}
		}
	case "iprange":
		for _, o := range m.Opts {
			lo, hi, ok := strings.Cut(o.Arg(), "-")
			a, err1 := netip.ParseAddr(lo)
			b, err2 := netip.ParseAddr(hi)
			if !ok || err1 != nil || err2 != nil {
				return lineErr(r, "bad %s %q", o.Name, o.Arg())
			}
			k := cSrcRange
			if o.Name == "--dst-range" {
				k = cDstRange
			}
			cr.conds = append(cr.conds, cond{kind: k, neg: o.Neg, lo: a, hi: b})
		}
	case "icmp", "icmp6", "ipv6-icmp":
		// The traced packet is TCP, UDP or SCTP.
		cr.conds = append(cr.conds, cond{kind: cNever})
	default:
		// Known to the parser (set, physdev, owner, socket, ...), but it
		// depends on state the dump does not hold.
		unknown(fmt.Sprintf("match %q depends on state outside the dump", m.Module))
	}
	return nil
}

func compileTarget(cr *crule, r *iptables.Rule, ct *ctable) error {
	t := r.Target
	switch t.Name {
	case "":
		cr.kind = tNone
	case "ACCEPT":
		cr.kind = tAccept
	case "DROP":
		cr.kind = tDrop
	case "REJECT":
		cr.kind = tReject
	case "RETURN":
		cr.kind = tReturn
	case "DNAT":
		cr.kind = tDNAT
		o, _ := t.Opt("--to-destination")
		ip, port, err := parseNATDest(o.Arg())
		if err != nil {
			return lineErr(r, "%v", err)
		}
		cr.dnatIP, cr.dnatPort = ip, port
	case "MASQUERADE", "SNAT":
		cr.kind = tMasquerade
	case "MARK":
		cr.kind = tMark
		for _, o := range t.Opts {
			var op markOp
			switch o.Name {
			case "--set-xmark":
				op = markSetX
			case "--set-mark":
				op = markSet
			case "--or-mark":
				op = markOr
			case "--and-mark":
				op = markAnd
			case "--xor-mark":
				op = markXor
			default:
				continue
			}
			v, m, err := parseMark(o.Arg())
			if err != nil {
				return lineErr(r, "%v", err)
			}
			cr.markOp, cr.markV, cr.markM = op, v, m
		}
	case "LOG", "NFLOG", "CONNMARK", "TCPMSS", "CHECKSUM", "CT", "NOTRACK":
		cr.kind = tContinue
	default:
		if c := ct.chain(t.Name); c != nil {
			cr.kind = tJump
			if t.Goto {
				cr.kind = tGoto
			}
			cr.jump = c
			cr.markMasq = t.Name == "KUBE-MARK-MASQ"
			return nil
		}
		cr.kind = tUnknown
		cr.unknownTarget = t.Name
	}
	return nil
}

func parsePorts(s string) ([]portRange, error) {
	var out []portRange
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", s)
		}
		b := a
		if isRange {
			if hi == "" {
				b = 65535
			} else if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, fmt.Errorf("bad port %q", s)
			}
		}
		out = append(out, portRange{uint16(a), uint16(b)})
	}
	return out, nil
}

const (
	flagFIN uint8 = 1 << iota
	flagSYN
	flagRST
	flagPSH
	flagACK
	flagURG
)

func tcpFlags(s string) (uint8, error) {
	var b uint8
	for _, f := range strings.Split(s, ",") {
		switch strings.ToUpper(f) {
		case "FIN":
			b |= flagFIN
		case "SYN":
			b |= flagSYN
		case "RST":
			b |= flagRST
		case "PSH":
			b |= flagPSH
		case "ACK":
			b |= flagACK
		case "URG":
			b |= flagURG
		case "ALL":
			b |= 0x3f
		case "NONE":
		default:
			return 0, fmt.Errorf("bad tcp flag %q", f)
		}
	}
	return b, nil
}

func addrTypes(s string) (uint8, error) {
	var b uint8
	for _, t := range strings.Split(s, ",") {
		switch strings.ToUpper(t) {
		case "LOCAL":
			b |= atLocal
		case "UNICAST":
			b |= atUnicast
		case "BROADCAST":
			b |= atBroadcast
		case "MULTICAST":
			b |= atMulticast
		default:
			return 0, fmt.Errorf("address type %q", t)
		}
	}
	return b, nil
}

func ctStates(s string) (uint8, error) {
	var b uint8
	for _, t := range strings.Split(s, ",") {
		switch strings.ToUpper(t) {
		case "NEW":
			b |= ctNew
		case "ESTABLISHED":
			b |= ctEstablished
		case "RELATED":
			b |= ctRelated
		case "INVALID":
			b |= ctInvalid
		case "UNTRACKED":
			b |= ctUntracked
		case "SNAT":
			b |= ctSNAT
		case "DNAT":
			b |= ctDNAT
		default:
			return 0, fmt.Errorf("bad conntrack state %q", t)
		}
	}
	return b, nil
}

func parseMark(s string) (uint32, uint32, error) {
	v, m, hasMask := strings.Cut(s, "/")
	val, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("bad mark %q", s)
	}
	mask := uint64(0xffffffff)
	if hasMask {
		if mask, err = strconv.ParseUint(m, 0, 32); err != nil {
			return 0, 0, fmt.Errorf("bad mark mask %q", s)
		}
	}
	return uint32(val), uint32(mask), nil
}

// parseNATDest reads a DNAT --to-destination: "ip", "ip:port",
// "ip:port-port", "ip-ip:port", "[v6]:port".
func parseNATDest(s string) (netip.Addr, int, error) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, 0, fmt.Errorf("bad DNAT destination %q", s)
		}
		host = s[1:end]
		port = strings.TrimPrefix(s[end+1:], ":")
	} else if strings.Count(s, ":") == 1 {
		host, port, _ = strings.Cut(s, ":")
	}
	host, _, _ = strings.Cut(host, "-")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("bad DNAT destination %q", s)
	}
	p := 0
	if port != "" {
		port, _, _ = strings.Cut(port, "-")
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("bad DNAT destination port %q", s)
		}
		p = int(n)
	}
	return ip.Unmap(), p, nil
}
