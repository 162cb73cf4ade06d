// Package iptables reads and writes the text format of iptables-save: every
// table, chain declarations with optional counters, rules with optional
// counters, quoted strings, negation, and the matches and targets kube-proxy
// and the common CNIs write.
//
// A rule keeps its options in the order they were written, grouped by the
// match module ("-m tcp") that owns them, so the printer writes back what
// was read. Matches and targets this package does not know are kept as they
// were written and listed in Dump.Unknown: callers decide what an unknown
// match means (the tracer never treats one as matching).
package iptables

import (
	"fmt"
	"net/netip"
	"strings"
)

// Dump is a parsed iptables-save output.
type Dump struct {
	// Tables in the order they appear.
	Tables []*Table
	// Unknown lists the matches, options and targets that were kept but not
	// understood, in line order.
	Unknown []Unknown
}

// Table returns a table by name ("nat", "filter", ...), or nil.
func (d *Dump) Table(name string) *Table {
	for _, t := range d.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Chain returns a chain by table and name, or nil.
func (d *Dump) Chain(table, chain string) *Chain {
	if t := d.Table(table); t != nil {
		return t.Chain(chain)
	}
	return nil
}

// Rules counts the rules of every table.
func (d *Dump) Rules() int {
	n := 0
	for _, t := range d.Tables {
		for _, c := range t.Chains {
			n += len(c.Rules)
		}
	}
	return n
}

// Unknown is something kept as written but not understood.
type Unknown struct {
	Line  int    `json:"line"`
	Table string `json:"table"`
	Chain string `json:"chain"`
	// What names it: `match "foo"`, `option "--bar" of match "tcp"`,
	// `target "AUDIT"`.
	What string `json:"what"`
}

// String renders the unknown item with its line, table and chain.
func (u Unknown) String() string {
	return fmt.Sprintf("line %d: %s/%s: %s", u.Line, u.Table, u.Chain, u.What)
}

// Table is one "*name ... COMMIT" section.
type Table struct {
	Name string
	// Line is the line of "*name".
	Line int
	// Chains in declaration order.
	Chains []*Chain
	byName map[string]*Chain
}

// Chain returns a chain of the table by name, or nil.
func (t *Table) Chain(name string) *Chain { return t.byName[name] }

// Chain is a declared chain and its rules.
type Chain struct {
	Name string
	// Policy is the built-in chain's policy (ACCEPT, DROP) or "-" for a
	// user-defined chain.
	Policy string
	// Counters reports whether the declaration carried [packets:bytes].
	Counters       bool
	Packets, Bytes uint64
	// Line is the line of the declaration.
	Line  int
	Rules []*Rule
}

// Builtin reports whether the chain is a built-in chain (it has a policy).
func (c *Chain) Builtin() bool { return c.Policy != "-" }

// Rule is one "-A CHAIN ..." line.
type Rule struct {
	Table string
	Chain string
	// Num is the rule's position in its chain, from 1 (as iptables -L
	// --line-numbers shows it).
	Num int
	// Line is the line number in the dump, from 1.
	Line int
	// Text is the line as written (trimmed).
	Text           string
	Packets, Bytes uint64
	// Basic holds the options of no match module, in order: -p, -s, -d, -i,
	// -o, -f (short names).
	Basic []Opt
	// Matches holds the "-m module" matches, in order.
	Matches []Match
	// Target is the -j or -g target; Target.Name is "" for a rule without
	// one (it only counts packets).
	Target Target
	// Counters reports whether the rule carried a "[packets:bytes]" prefix
	// (Packets, Bytes).
	Counters bool
}

// Opt is one option with its arguments: "! --dport 80" is the option
// "--dport", negated, with the one argument "80" (NewOpt("--dport", true,
// "80")).
type Opt struct {
	Name string
	Neg  bool
	// n is the number of arguments; val holds them: the argument as written
	// when there is one, joined by NUL bytes when there are several (a
	// dump cannot hold NUL bytes).
	n   uint8
	val string
}

// NewOpt builds an option.
func NewOpt(name string, neg bool, args ...string) Opt {
	return Opt{Name: name, Neg: neg, n: uint8(len(args)), val: strings.Join(args, "\x00")}
}

// Arg returns the first argument, or "".
func (o Opt) Arg() string {
	if o.n > 1 {
		first, _, _ := strings.Cut(o.val, "\x00")
		return first
	}
	return o.val
}

// Args returns the arguments.
func (o Opt) Args() []string {
	switch o.n {
	case 0:
		return nil
	case 1:
		return []string{o.val}
	}
	return strings.Split(o.val, "\x00")
}

// NArgs is the number of arguments.
func (o Opt) NArgs() int { return int(o.n) }

// Match is one "-m module" and its options.
type Match struct {
	Module string
	Opts   []Opt
	// Known is false when the module, or one of its options, is not one
	// this package knows (see Dump.Unknown).
	Known bool
}

// Opt returns the match's option by name (any alias), and whether it is set.
func (m Match) Opt(names ...string) (Opt, bool) {
	for _, o := range m.Opts {
		for _, n := range names {
			if o.Name == n {
				return o, true
			}
		}
	}
	return Opt{}, false
}

// Target is what a rule does when it matches.
type Target struct {
	// Name is a standard target (ACCEPT, DROP, RETURN), an extension
	// target (DNAT, MARK, ...) or a chain.
	Name string
	Opts []Opt
	// Goto is set for "-g CHAIN" (no return to the calling chain).
	Goto bool
	// Known is false for an extension target this package does not know
	// that is not a chain of the table.
	Known bool
}

// Opt returns the target's option by name, and whether it is set.
func (t Target) Opt(names ...string) (Opt, bool) {
	return Match{Opts: t.Opts}.Opt(names...)
}

// BasicOpt returns the rule's basic option by short name ("-p", "-s", "-d",
// "-i", "-o", "-f").
func (r *Rule) BasicOpt(name string) (Opt, bool) {
	for _, o := range r.Basic {
		if o.Name == name {
			return o, true
		}
	}
	return Opt{}, false
}

// Comment returns the rule's comment (-m comment --comment), or "".
func (r *Rule) Comment() string {
	for _, m := range r.Matches {
		if m.Module == "comment" {
			if o, ok := m.Opt("--comment"); ok {
				return o.Arg()
			}
		}
	}
	return ""
}

// Match returns the rule's first match of a module.
func (r *Rule) Match(module string) (Match, bool) {
	for _, m := range r.Matches {
		if m.Module == module {
			return m, true
		}
	}
	return Match{}, false
}

// ParsePrefix parses an address as iptables writes it: "10.0.0.1",
// "10.0.0.0/8", "10.0.0.0/255.0.0.0", "fd00::/64".
func ParsePrefix(s string) (netip.Prefix, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	if !hasBits {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if m, err := netip.ParseAddr(bits); err == nil {
		// A dotted mask: it must be contiguous.
		n, ok := maskBits(m)
		if !ok || m.BitLen() != a.BitLen() {
			return netip.Prefix{}, fmt.Errorf("bad mask in %q", s)
		}
		return netip.PrefixFrom(a, n).Masked(), nil
	}
	n := 0
	if len(bits) == 0 || len(bits) > 3 {
		return netip.Prefix{}, fmt.Errorf("bad prefix length in %q", s)
	}
	for _, c := range []byte(bits) {
		if c < '0' || c > '9' {
			return netip.Prefix{}, fmt.Errorf("bad prefix length in %q", s)
		}
		n = n*10 + int(c-'0')
	}
	if n > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("bad prefix length in %q", s)
	}
	return netip.PrefixFrom(a, n).Masked(), nil
}

func maskBits(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n := 0
	seenZero := false
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			if x&(1<<i) != 0 {
				if seenZero {
					return 0, false
				}
				n++
			} else {
				seenZero = true
			}
		}
	}
	return n, true
}
