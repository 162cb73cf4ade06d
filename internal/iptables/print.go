package iptables

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// String prints the dump in iptables-save format.
func (d *Dump) String() string {
	var b strings.Builder
	_ = d.Write(&b)
	return b.String()
}

// Write prints the dump in iptables-save format: each table, its chain
// declarations, its rules chain by chain, and COMMIT. A rule prints its
// basic options, then its matches, then its target; Parse reads the output
// back to the same Dump.
func (d *Dump) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, t := range d.Tables {
		bw.WriteString("*" + t.Name + "\n")
		for _, c := range t.Chains {
			bw.WriteString(":" + c.Name + " " + c.Policy)
			if c.Counters {
				bw.WriteString(" " + counters(c.Packets, c.Bytes))
			}
			bw.WriteByte('\n')
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				bw.WriteString(r.String())
				bw.WriteByte('\n')
			}
		}
		bw.WriteString("COMMIT\n")
	}
	return bw.Flush()
}

func counters(p, b uint64) string {
	return "[" + strconv.FormatUint(p, 10) + ":" + strconv.FormatUint(b, 10) + "]"
}

// String prints the rule as iptables-save would.
func (r *Rule) String() string {
	var b strings.Builder
	if r.Counters {
		b.WriteString(counters(r.Packets, r.Bytes) + " ")
	}
	b.WriteString("-A " + r.Chain)
	writeOpts(&b, r.Basic)
	for _, m := range r.Matches {
		b.WriteString(" -m " + m.Module)
		writeOpts(&b, m.Opts)
	}
	if r.Target.Name != "" {
		if r.Target.Goto {
			b.WriteString(" -g ")
		} else {
			b.WriteString(" -j ")
		}
		b.WriteString(r.Target.Name)
		writeOpts(&b, r.Target.Opts)
	}
	return b.String()
}

func writeOpts(b *strings.Builder, opts []Opt) {
	for _, o := range opts {
		if o.Neg {
			b.WriteString(" !")
		}
		b.WriteString(" " + o.Name)
		for _, a := range o.Args() {
			b.WriteByte(' ')
			b.WriteString(Quote(a))
		}
	}
}

// Quote quotes a word for iptables-save output when it needs quoting
// (empty, blank, quote or backslash inside, or it would read as an option
// or negation).
func Quote(s string) string {
	need := s == "" || s == "!" || (len(s) > 1 && s[0] == '-' && (s[1] < '0' || s[1] > '9')) || s[0] == '"'
	for i := 0; i < len(s) && !need; i++ {
		switch s[i] {
		case ' ', '\t', '"', '\\', '\r':
			need = true
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
