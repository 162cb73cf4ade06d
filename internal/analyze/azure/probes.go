package azure

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// failedProbe is a target that `netdoctor probe` found failing at the
// network level from the cluster's nodes or pods (probes/egress.json).
type failedProbe struct {
	dst   netip.AddrPort
	nodes map[string]bool
	// what is the evidence: the leg and its verdict.
	what []string
}

// failedProbes reads probes/egress.json: targets given as IP:port whose
// node or pod legs failed with a timeout, no route or refusal (not an HTTP
// answer, which is a path that works). Unreadable files are the egress
// checks' to report.
func (c *context) failedProbes() []failedProbe {
	b, ok := c.s.File(probe.FilePath)
	if !ok {
		return nil
	}
	var f probe.File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil
	}
	byDst := map[netip.AddrPort]*failedProbe{}
	var order []netip.AddrPort
	for _, run := range f.Runs {
		dst, err := netip.ParseAddrPort(run.Target)
		if err != nil {
			continue // a name, or no port: nothing to look up in a route table
		}
		failed := false
		for _, leg := range run.Legs {
			if leg.Place != probe.PlaceNode && leg.Place != probe.PlacePod {
				continue
			}
			st := leg.State()
			if st.Verdict == probe.VerdictOK || st.Verdict == probe.VerdictNotRun || st.HTTPLevel {
				continue
			}
			fp := byDst[dst]
			if fp == nil {
				fp = &failedProbe{dst: dst, nodes: map[string]bool{}}
				byDst[dst] = fp
				order = append(order, dst)
			}
			if leg.Node != "" {
				fp.nodes[leg.Node] = true
			}
			fp.what = append(fp.what, fmt.Sprintf("probe from %s: %s %s (%s)", leg.Label(), st.Verdict, st.Dominant, st.Worst))
			failed = true
		}
		if failed && run.Conclusion.Locus != "" {
			fp := byDst[dst]
			fp.what = append(fp.what, fmt.Sprintf("probe conclusion: %s: %s", run.Conclusion.Locus, run.Conclusion.Summary))
		}
	}
	out := make([]failedProbe, 0, len(order))
	for _, d := range order {
		out = append(out, *byDst[d])
	}
	return out
}
