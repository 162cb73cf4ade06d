package iptables

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// ParseError is a syntax error at a line of a dump.
type ParseError struct {
	// File names the dump, as given to Parse ("" when unnamed).
	File string
	Line int
	Msg  string
}

// Error renders "file:line: message" (or "line N: message").
func (e *ParseError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Parse parses iptables-save output. name names the input in errors (a file
// name, or ""). The returned Dump refers to data's memory: the caller must
// not modify data afterwards.
func Parse(name string, data []byte) (*Dump, error) {
	if len(data) == 0 {
		return &Dump{}, nil
	}
	return ParseString(name, unsafe.String(unsafe.SliceData(data), len(data)))
}

// ParseString is Parse for a string.
func ParseString(name, data string) (*Dump, error) {
	p := &parser{file: name, dump: &Dump{}}
	if err := p.parse(data); err != nil {
		return nil, err
	}
	return p.dump, nil
}

type token struct {
	s      string
	quoted bool
}

// scratch option under construction: args are indexes into parser.args.
type sopt struct {
	name     string
	neg      bool
	a0, an   int
	matchIdx int // -1 basic, -2 target, else index into smatches
}

type smatch struct {
	module string
	known  bool
	opts   optTable // nil for an unknown module
}

type parser struct {
	file     string
	dump     *Dump
	table    *Table
	line     int
	modCache [6]modEntry
	modNext  int
	// last is the chain of the previous rule: iptables-save groups rules
	// by chain.
	last *Chain

	toks     []token
	sopts    []sopt
	smatches []smatch
	args     []string
	fields   []string
	starts   []int
	next     []int

	// arenas, handed out in slices with no spare capacity
	ruleArena  []Rule
	chainArena []Chain
	ptrArena   []*Rule
	optArena   []Opt
	matchArena []Match
}

func (p *parser) errf(format string, args ...any) error {
	return &ParseError{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(data string) error {
	for len(data) > 0 {
		var line string
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, ""
		}
		p.line++
		line = trimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		var err error
		switch line[0] {
		case '*':
			err = p.startTable(line)
		case ':':
			err = p.declareChain(line)
		case '-', '[':
			err = p.rule(line)
		default:
			if line == "COMMIT" {
				err = p.commit()
			} else {
				err = p.errf("unexpected line %q", clip(line))
			}
		}
		if err != nil {
			return err
		}
	}
	if p.table != nil {
		return &ParseError{File: p.file, Line: p.table.Line, Msg: fmt.Sprintf("table %q has no COMMIT", p.table.Name)}
	}
	return nil
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func validName(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '!' || s[0] == '[' || s[0] == '*' || s[0] == ':' || s[0] == '#' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '"', '\\', '\r', '\n':
			return false
		}
	}
	return true
}

func (p *parser) startTable(line string) error {
	if p.table != nil {
		return p.errf("table %q starts before table %q has its COMMIT", line[1:], p.table.Name)
	}
	name := line[1:]
	if !validName(name) {
		return p.errf("bad table name %q", clip(name))
	}
	if t := p.dump.Table(name); t != nil {
		return p.errf("table %q appears twice (first at line %d)", name, t.Line)
	}
	p.table = &Table{Name: name, Line: p.line, byName: map[string]*Chain{}}
	p.dump.Tables = append(p.dump.Tables, p.table)
	return nil
}

func (p *parser) declareChain(line string) error {
	if p.table == nil {
		return p.errf("chain declaration outside a table")
	}
	fields := p.fields[:0]
	rest := line[1:]
	for rest != "" && len(fields) < 4 {
		rest = trimSpace(rest)
		if rest == "" {
			break
		}
		j := strings.IndexAny(rest, " \t")
		if j < 0 {
			j = len(rest)
		}
		fields = append(fields, rest[:j])
		rest = rest[j:]
	}
	p.fields = fields
	if len(fields) < 2 || len(fields) > 3 {
		return p.errf("bad chain declaration %q (want \":NAME POLICY [packets:bytes]\")", clip(line))
	}
	c := p.newChain()
	*c = Chain{Name: fields[0], Policy: fields[1], Line: p.line}
	if !validName(c.Name) {
		return p.errf("bad chain name %q", clip(c.Name))
	}
	if c.Policy != "-" && !validName(c.Policy) {
		return p.errf("bad policy %q of chain %q", clip(c.Policy), c.Name)
	}
	if len(fields) == 3 {
		pk, by, ok := parseCounters(fields[2])
		if !ok {
			return p.errf("bad counters %q of chain %q", clip(fields[2]), c.Name)
		}
		c.Counters, c.Packets, c.Bytes = true, pk, by
	}
	if old := p.table.byName[c.Name]; old != nil {
		return p.errf("chain %q declared twice in table %q (first at line %d)", c.Name, p.table.Name, old.Line)
	}
	p.table.byName[c.Name] = c
	p.table.Chains = append(p.table.Chains, c)
	return nil
}

func parseCounters(s string) (uint64, uint64, bool) {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ":")
	if !ok {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return x, y, err1 == nil && err2 == nil
}

func (p *parser) commit() error {
	if p.table == nil {
		return p.errf("COMMIT outside a table")
	}
	// Targets resolved when their rule was read are known; the rest are
	// extension targets this package does not know, or chains declared
	// after the rule (never in iptables-save output, but valid input).
	t := p.table
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if r.Target.Name == "" || r.Target.Known {
				continue
			}
			if t.byName[r.Target.Name] != nil {
				if len(r.Target.Opts) > 0 {
					return &ParseError{File: p.file, Line: r.Line, Msg: fmt.Sprintf("jump to chain %q takes no options", r.Target.Name)}
				}
				r.Target.Known = true
				continue
			}
			p.dump.Unknown = append(p.dump.Unknown, Unknown{Line: r.Line, Table: t.Name, Chain: c.Name,
				What: fmt.Sprintf("target %q (not a chain of table %q)", r.Target.Name, t.Name)})
		}
	}
	p.table, p.last = nil, nil
	return nil
}

// tokenize splits a rule line into words; a word starting with a double
// quote runs to the closing quote, with \" and \\ escapes.
func (p *parser) tokenize(line string) error {
	p.toks = p.toks[:0]
	i := 0
	for i < len(line) {
		c := line[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		if c == '"' {
			j := i + 1
			esc := false
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' && j+1 < len(line) {
					esc = true
					j++
				}
				j++
			}
			if j >= len(line) {
				return p.errf("unterminated quoted string at column %d", i+1)
			}
			s := line[i+1 : j]
			if esc {
				s = unescape(s)
			}
			p.toks = append(p.toks, token{s: s, quoted: true})
			i = j + 1
			if i < len(line) && line[i] != ' ' && line[i] != '\t' {
				return p.errf("text right after a closing quote at column %d", i+1)
			}
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		p.toks = append(p.toks, token{s: line[i:j]})
		i = j
	}
	return nil
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOption(t token) bool {
	return !t.quoted && len(t.s) > 1 && t.s[0] == '-' && (t.s[1] < '0' || t.s[1] > '9')
}

func isBang(t token) bool { return !t.quoted && t.s == "!" }

func (p *parser) rule(line string) error {
	if p.table == nil {
		return p.errf("rule outside a table")
	}
	if strings.IndexByte(line, 0) >= 0 {
		return p.errf("NUL byte in the rule")
	}
	if err := p.tokenize(line); err != nil {
		return err
	}
	toks := p.toks
	r := p.newRule()
	r.Table, r.Line, r.Text = p.table.Name, p.line, line
	i := 0
	if !toks[0].quoted && strings.HasPrefix(toks[0].s, "[") {
		pk, by, ok := parseCounters(toks[0].s)
		if !ok {
			return p.errf("bad counters %q", clip(toks[0].s))
		}
		r.Counters, r.Packets, r.Bytes = true, pk, by
		i++
	}
	if i+1 >= len(toks) || toks[i].quoted || (toks[i].s != "-A" && toks[i].s != "--append") {
		return p.errf("rule does not start with \"-A CHAIN\"")
	}
	r.Chain = toks[i+1].s
	c := p.last
	if c == nil || c.Name != r.Chain {
		c = p.table.byName[r.Chain]
		p.last = c
	}
	if c == nil {
		return p.errf("rule for chain %q, which table %q does not declare", clip(r.Chain), p.table.Name)
	}
	i += 2

	p.sopts, p.smatches, p.args = p.sopts[:0], p.smatches[:0], p.args[:0]
	cur := -1   // current match
	proto := "" // for the implicit protocol match
	neg := false
	for i < len(toks) {
		t := toks[i]
		if isBang(t) {
			if neg {
				return p.errf("\"!\" twice")
			}
			neg = true
			i++
			continue
		}
		if !isOption(t) {
			return p.errf("unexpected word %q", clip(t.s))
		}
		if short, bn, ok := basicOption(t.s); ok {
			if i+bn >= len(toks) {
				return p.errf("option %s needs an argument", t.s)
			}
			a0 := len(p.args)
			for k := 1; k <= bn; k++ {
				p.args = append(p.args, toks[i+k].s)
			}
			if short == "-s" || short == "-d" {
				if err := checkPrefix(toks[i+1].s); err != nil {
					return p.errf("option %s: %v", t.s, err)
				}
			}
			if short == "-p" {
				proto = lower(toks[i+1].s)
			}
			p.sopts = append(p.sopts, sopt{name: short, neg: neg, a0: a0, an: bn, matchIdx: -1})
			neg = false
			i += 1 + bn
			continue
		}
		switch t.s {
		case "-m", "--match":
			if neg {
				return p.errf("\"!\" before -m")
			}
			if i+1 >= len(toks) || !validName(toks[i+1].s) {
				return p.errf("-m needs a module name")
			}
			mod := toks[i+1].s
			opts, known := p.module(mod)
			if !known {
				p.dump.Unknown = append(p.dump.Unknown, Unknown{Line: p.line, Table: p.table.Name, Chain: r.Chain,
					What: fmt.Sprintf("match %q", mod)})
			}
			p.smatches = append(p.smatches, smatch{module: mod, known: known, opts: opts})
			cur = len(p.smatches) - 1
			i += 2
			continue
		case "-j", "--jump", "-g", "--goto":
			if neg {
				return p.errf("\"!\" before %s", t.s)
			}
			if i+1 >= len(toks) || !validName(toks[i+1].s) {
				return p.errf("%s needs a target", t.s)
			}
			r.Target.Name = toks[i+1].s
			r.Target.Goto = t.s == "-g" || t.s == "--goto"
			opts, known := targetTables[r.Target.Name]
			r.Target.Known = known
			i += 2
			for i < len(toks) {
				t := toks[i]
				if isBang(t) {
					return p.errf("\"!\" in the options of target %s", r.Target.Name)
				}
				if !isOption(t) {
					return p.errf("unexpected word %q after target %s", clip(t.s), r.Target.Name)
				}
				n, ok := opts.lookup(t.s)
				if !ok {
					if known {
						return p.errf("target %s has no option %s", r.Target.Name, t.s)
					}
					n = genericArgs(toks[i+1:])
				}
				if i+n >= len(toks) {
					return p.errf("option %s needs an argument", t.s)
				}
				a0 := len(p.args)
				for k := 1; k <= n; k++ {
					p.args = append(p.args, toks[i+k].s)
				}
				p.sopts = append(p.sopts, sopt{name: t.s, a0: a0, an: n, matchIdx: -2})
				i += 1 + n
			}
			continue
		}
		// A match option: it belongs to the current match, or to the
		// protocol's implicit match ("-p tcp --dport 80").
		owner := -1
		n := 0
		if cur >= 0 {
			m := &p.smatches[cur]
			if m.opts != nil {
				if k, ok := m.opts.lookup(t.s); ok {
					owner, n = cur, k
				}
			} else {
				owner, n = cur, genericArgs(toks[i+1:])
			}
		}
		if owner < 0 && proto != "" {
			if known, ok := matchTables[proto]; ok {
				if k, ok := known.lookup(t.s); ok {
					p.smatches = append(p.smatches, smatch{module: proto, known: true, opts: known})
					cur = len(p.smatches) - 1
					owner, n = cur, k
				}
			}
		}
		if owner < 0 {
			if cur < 0 {
				return p.errf("option %s outside a match", t.s)
			}
			// An option the current (known) module does not have: keep it,
			// and report the match as unknown.
			owner, n = cur, genericArgs(toks[i+1:])
			if p.smatches[cur].known {
				p.smatches[cur].known = false
				p.dump.Unknown = append(p.dump.Unknown, Unknown{Line: p.line, Table: p.table.Name, Chain: r.Chain,
					What: fmt.Sprintf("option %q of match %q", t.s, p.smatches[cur].module)})
			}
		}
		if i+n >= len(toks) {
			return p.errf("option %s needs an argument", t.s)
		}
		a0 := len(p.args)
		for k := 1; k <= n; k++ {
			p.args = append(p.args, toks[i+k].s)
		}
		p.sopts = append(p.sopts, sopt{name: t.s, neg: neg, a0: a0, an: n, matchIdx: owner})
		neg = false
		i += 1 + n
	}
	if neg {
		return p.errf("\"!\" at the end of the rule")
	}
	p.finish(r)
	if r.Target.Name != "" && !r.Target.Known && p.table.byName[r.Target.Name] != nil {
		if len(r.Target.Opts) > 0 {
			return p.errf("jump to chain %q takes no options", r.Target.Name)
		}
		r.Target.Known = true
	}
	r.Num = len(c.Rules) + 1
	c.Rules = p.appendRule(c.Rules, r)
	return nil
}

// module returns a match module's option table, through a small cache of
// the modules met last (a dump uses few, over and over).
func (p *parser) module(name string) (optTable, bool) {
	for i := range p.modCache {
		if e := &p.modCache[i]; e.name == name && e.name != "" {
			return e.opts, e.known
		}
	}
	opts, known := matchTables[name]
	p.modCache[p.modNext] = modEntry{name: name, opts: opts, known: known}
	p.modNext = (p.modNext + 1) % len(p.modCache)
	return opts, known
}

type modEntry struct {
	name  string
	opts  optTable
	known bool
}

// genericArgs counts the arguments of an option not in the tables: the
// words up to the next option or "!".
func genericArgs(rest []token) int {
	n := 0
	for _, t := range rest {
		if isOption(t) || isBang(t) || n == 255 {
			break
		}
		n++
	}
	return n
}

// finish copies the scratch options into the arenas, grouped: basic
// options, then each match's, then the target's (a counting sort by owner).
func (p *parser) finish(r *Rule) {
	opts := p.allocOpts(len(p.sopts))
	slot := func(owner int) int {
		switch owner {
		case -1:
			return 0
		case -2:
			return len(p.smatches) + 1
		}
		return owner + 1
	}
	nslots := len(p.smatches) + 2
	if cap(p.starts) < nslots+1 {
		p.starts = make([]int, nslots+1)
	}
	starts := p.starts[:nslots+1]
	clear(starts)
	for _, so := range p.sopts {
		starts[slot(so.matchIdx)+1]++
	}
	for k := 1; k <= nslots; k++ {
		starts[k] += starts[k-1]
	}
	next := p.next[:0]
	next = append(next, starts[:nslots]...)
	p.next = next
	for _, so := range p.sopts {
		o := Opt{Name: so.name, Neg: so.neg, n: uint8(so.an)}
		switch so.an {
		case 0:
		case 1:
			o.val = p.args[so.a0]
		default:
			o.val = strings.Join(p.args[so.a0:so.a0+so.an], "\x00")
		}
		s := slot(so.matchIdx)
		opts[next[s]] = o
		next[s]++
	}
	group := func(s int) []Opt {
		if starts[s] == starts[s+1] {
			return nil
		}
		return opts[starts[s]:starts[s+1]:starts[s+1]]
	}
	r.Basic = group(0)
	if len(p.smatches) > 0 {
		ms := p.allocMatches(len(p.smatches))
		for k, sm := range p.smatches {
			ms[k] = Match{Module: sm.module, Known: sm.known, Opts: group(k + 1)}
		}
		r.Matches = ms
	}
	r.Target.Opts = group(nslots - 1)
}

const arenaChunk = 4096

func (p *parser) newChain() *Chain {
	if len(p.chainArena) == cap(p.chainArena) {
		p.chainArena = make([]Chain, 0, 1024)
	}
	p.chainArena = p.chainArena[:len(p.chainArena)+1]
	return &p.chainArena[len(p.chainArena)-1]
}

// appendRule appends to a chain's rules. iptables-save writes a chain's
// rules together, so they are laid out one after the other in a shared
// slice and grow in place; a chain whose rules are interleaved with
// another's falls back to its own slice.
func (p *parser) appendRule(rules []*Rule, r *Rule) []*Rule {
	n := len(p.ptrArena)
	if len(rules) > 0 && (n == 0 || &rules[len(rules)-1] != &p.ptrArena[n-1]) {
		return append(rules, r)
	}
	if n == cap(p.ptrArena) {
		// Move this chain's rules to the start of a new block.
		size := max(arenaChunk*4, 2*(len(rules)+1))
		block := make([]*Rule, len(rules), size)
		copy(block, rules)
		p.ptrArena = block
		n = len(rules)
	}
	p.ptrArena = append(p.ptrArena, r)
	start := n - len(rules)
	return p.ptrArena[start : n+1 : n+1]
}

func (p *parser) newRule() *Rule {
	if len(p.ruleArena) == cap(p.ruleArena) {
		p.ruleArena = make([]Rule, 0, arenaChunk)
	}
	p.ruleArena = p.ruleArena[:len(p.ruleArena)+1]
	return &p.ruleArena[len(p.ruleArena)-1]
}

func (p *parser) allocOpts(n int) []Opt {
	if n == 0 {
		return nil
	}
	if cap(p.optArena)-len(p.optArena) < n {
		p.optArena = make([]Opt, 0, max(arenaChunk, n))
	}
	l := len(p.optArena)
	p.optArena = p.optArena[:l+n]
	return p.optArena[l : l+n : l+n]
}

func (p *parser) allocMatches(n int) []Match {
	if cap(p.matchArena)-len(p.matchArena) < n {
		p.matchArena = make([]Match, 0, max(arenaChunk, n))
	}
	l := len(p.matchArena)
	p.matchArena = p.matchArena[:l+n]
	return p.matchArena[l : l+n : l+n]
}

// checkPrefix validates an address without building it (ParsePrefix
// allocates for IPv6 zones; this is the hot path).
func checkPrefix(s string) error {
	_, err := ParsePrefix(s)
	return err
}

// lower lower-cases ASCII without allocating when already lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
