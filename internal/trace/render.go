package trace

import (
	"fmt"
	"io"
	"strings"
)

// TextOptions adjusts WriteText.
type TextOptions struct {
	// Endpoint describes a DNAT destination ("pod shop/web-1 on node
	// aks-1"); nil or "" prints nothing more.
	Endpoint func(Destination) string
}

// treeNode is one rule in the drawn tree of paths.
type treeNode struct {
	step     Step
	children []*treeNode
	dest     *Destination
}

// WriteText draws the packet's path the way one walks kube-proxy's chains
// by hand: each rule matched, indented under the rule that jumped to it,
// the branches of a Service's endpoints with their probabilities, and the
// verdict.
func WriteText(w io.Writer, p Packet, r Result, opts TextOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "packet: %s", p)
	if p.Local {
		b.WriteString(" (sent by the node)")
	}
	b.WriteString("\n\n")

	root := &treeNode{}
	if r.Verdict == DNAT {
		for i := range r.Destinations {
			d := &r.Destinations[i]
			insertPath(root, d.Path, d)
		}
	} else {
		insertPath(root, r.Path, nil)
	}
	for _, c := range root.children {
		drawNode(&b, c, "", true, true, opts)
	}
	if len(root.children) == 0 {
		b.WriteString("  (no rule matched)\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	switch r.Verdict {
	case DNAT:
		for _, d := range r.Destinations {
			fmt.Fprintf(&b, "  -> %s:%d  %5.1f%%", d.IP, d.Port, d.Probability*100)
			if opts.Endpoint != nil {
				if s := opts.Endpoint(d); s != "" {
					b.WriteString("  " + s)
				}
			}
			if d.Masquerade {
				b.WriteString("  (source masqueraded)")
			}
			b.WriteString("\n")
		}
	case Drop, Reject, Accept:
		if r.Decision != nil {
			fmt.Fprintf(&b, "  by %s: %s\n", r.Decision, r.Decision.Text)
		}
	case None:
		b.WriteString("  no kube-proxy rule applies: the packet goes on unchanged\n")
	}
	fmt.Fprintf(&b, "masquerade: %s\n", yesNo(r.Masquerade))
	for _, a := range r.SessionAffinity {
		fmt.Fprintf(&b, "session affinity: ClientIP, %ds (%s): a returning client keeps its endpoint\n", a.TimeoutSeconds, a.Step)
	}
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wmsg)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// insertPath adds a path to the tree; a step goes under the last step
// whose target is its chain (the rule that jumped to it).
func insertPath(root *treeNode, path []Step, d *Destination) {
	var stack []*treeNode // open rules, innermost last
	parent := func(s Step) *treeNode {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].step.Target == s.Chain && stack[i].step.Table == s.Table {
				stack = stack[:i+1]
				return stack[i]
			}
		}
		stack = stack[:0]
		return root
	}
	var last *treeNode
	for _, s := range path {
		p := parent(s)
		var n *treeNode
		for _, c := range p.children {
			if c.step.Table == s.Table && c.step.Chain == s.Chain && c.step.Rule == s.Rule {
				n = c
				break
			}
		}
		if n == nil {
			n = &treeNode{step: s}
			p.children = append(p.children, n)
		}
		stack = append(stack, n)
		last = n
	}
	if last != nil && d != nil && last.step.Target == "DNAT" {
		last.dest = d
	}
}

func drawNode(b *strings.Builder, n *treeNode, indent string, top, lastChild bool, opts TextOptions) {
	branch := "└─ "
	next := indent + "   "
	if !lastChild {
		branch = "├─ "
		next = indent + "│  "
	}
	if top {
		branch, next = "", indent+"  "
	}
	s := n.step
	fmt.Fprintf(b, "%s%s%s %s #%d", indent, branch, s.Table, s.Chain, s.Rule)
	switch {
	case s.Target == "DNAT":
		fmt.Fprintf(b, " -> DNAT %s", s.ToDestination)
	case s.Target != "":
		fmt.Fprintf(b, " -> %s", s.Target)
	}
	if s.Comment != "" {
		fmt.Fprintf(b, "  /* %s */", s.Comment)
	}
	fmt.Fprintf(b, "  (line %d)", s.Line)
	if n.dest != nil {
		fmt.Fprintf(b, "  [%.1f%%]", n.dest.Probability*100)
		if opts.Endpoint != nil {
			if e := opts.Endpoint(*n.dest); e != "" {
				b.WriteString("  " + e)
			}
		}
	}
	b.WriteString("\n")
	for i, c := range n.children {
		drawNode(b, c, next, false, i == len(n.children)-1, opts)
	}
}
