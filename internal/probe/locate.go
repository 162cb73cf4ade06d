package probe

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// FileSchema is the schema version of probes/egress.json.
const FileSchema = "netdoctor.probes/v1"

// FilePath is the bundle path of the egress probe observations.
const FilePath = "probes/egress.json"

// DefaultFirewallReturnPorts is the port range many firewalls let TCP
// replies back in to (seed 004: "ports 32768-65535").
const DefaultFirewallReturnPorts = "32768-65535"

// File is the format of probes/egress.json: the observations of one or more
// `netdoctor probe` runs.
type File struct {
	SchemaVersion string `json:"schemaVersion"`
	// FirewallReturnPorts is the range of local ports the firewall in the
	// egress path lets TCP replies back in to, "LOW-HIGH"; empty means
	// DefaultFirewallReturnPorts.
	FirewallReturnPorts string `json:"firewallReturnPorts,omitempty"`
	Runs                []Run  `json:"runs"`
}

// Run is one target probed from several places side by side.
type Run struct {
	// Target is what was asked for, e.g. "203.0.113.10:443".
	Target     string     `json:"target"`
	At         time.Time  `json:"at"`
	Legs       []Leg      `json:"legs"`
	Conclusion Conclusion `json:"conclusion"`
}

// Place is where a leg ran.
type Place string

// Places.
const (
	// PlaceOutside is a named network namespace standing outside the
	// cluster (--outside-netns).
	PlaceOutside Place = "outside"
	// PlaceHere is this machine (--from-here).
	PlaceHere Place = "here"
	// PlaceNode is a node's own network (a hostNetwork agent pod).
	PlaceNode Place = "node"
	// PlacePod is a pod's network on a node (an agent pod).
	PlacePod Place = "pod"
)

// IsOutside reports whether the place stands outside the cluster.
func (p Place) IsOutside() bool { return p == PlaceOutside || p == PlaceHere }

// Leg is the same probes run from one place.
type Leg struct {
	Place Place `json:"place"`
	// Name names the place: the namespace, "this machine", the node, or
	// the pod as namespace/name.
	Name string `json:"name"`
	// Node is the node the leg ran on (node and pod legs).
	Node        string       `json:"node,omitempty"`
	Series      []Series     `json:"series"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
	// Error says why the leg could not run (agent pod failed, namespace
	// missing); Series may be empty.
	Error string `json:"error,omitempty"`
}

// Label renders the leg as "node aks-node-0" or "pod netdoctor/x (on n)".
func (l Leg) Label() string {
	s := string(l.Place) + " " + l.Name
	if l.Place == PlacePod && l.Node != "" {
		s += " (on " + l.Node + ")"
	}
	return s
}

// Locus is where a fault is.
type Locus string

// Loci, from the narrowing method of seed 004.
const (
	// LocusNone: every probe worked from every place.
	LocusNone Locus = "none"
	// LocusRemote: fails from everywhere, outside the cluster too: the
	// remote end (or the path to it) is down or refusing.
	LocusRemote Locus = "remote"
	// LocusEgress: works from outside the cluster, fails from its nodes and
	// pods: the cluster's egress (SNAT, route table, firewall, NSG).
	LocusEgress Locus = "egress"
	// LocusRemoteOrEgress: fails from every node and pod and there is no
	// outside leg to tell the two apart.
	LocusRemoteOrEgress Locus = "remote-or-egress"
	// LocusNode: fails from some nodes (and their pods), works from others.
	LocusNode Locus = "node"
	// LocusPod: works from the node, fails from a pod on it.
	LocusPod Locus = "pod"
	// LocusHTTP: the network path works; the failure is HTTP-level (a
	// status, or TLS).
	LocusHTTP Locus = "http"
	// LocusInconclusive: the legs do not fit a pattern, or none ran.
	LocusInconclusive Locus = "inconclusive"
)

// Conclusion says where the fault is and why.
type Conclusion struct {
	Locus Locus `json:"locus"`
	// Intermittent is true when some failing probe failed only sometimes.
	Intermittent bool     `json:"intermittent,omitempty"`
	Summary      string   `json:"summary"`
	Evidence     []string `json:"evidence,omitempty"`
	// FailingNodes names the nodes whose legs failed (LocusNode).
	FailingNodes []string `json:"failingNodes,omitempty"`
}

// LegState is a leg's overall result.
type LegState struct {
	// Verdict is the worst network-level verdict of the leg's main probes
	// (tcp and http; every probe when it has neither): persistent beats
	// intermittent beats ok. VerdictNotRun when nothing ran.
	Verdict Verdict
	// Dominant is the most frequent failing outcome of the worst series.
	Dominant Outcome
	// HTTPLevel is true when a main probe failed above the network: an
	// HTTP status of 400 or more, or a TLS error.
	HTTPLevel bool
	// Worst is the summary of the worst series, for evidence.
	Worst string
}

// State computes a leg's overall result.
func (l Leg) State() LegState {
	var main []Series
	for _, s := range l.Series {
		if s.Verdict != VerdictNotRun && (s.Spec.Kind == KindTCP || s.Spec.Kind == KindHTTP) {
			main = append(main, s)
		}
	}
	if len(main) == 0 {
		for _, s := range l.Series {
			if s.Verdict != VerdictNotRun && s.Spec.Kind != KindPath {
				main = append(main, s)
			}
		}
	}
	st := LegState{Verdict: VerdictNotRun}
	if len(main) == 0 {
		return st
	}
	st.Verdict = VerdictOK
	rank := map[Verdict]int{VerdictOK: 0, VerdictIntermittent: 1, VerdictPersistent: 2}
	for _, s := range main {
		if !s.Failed() {
			if st.Worst == "" {
				st.Worst = fmt.Sprintf("%s %s: %s", s.Spec.Kind, s.Spec.Target, s.Summary())
			}
			continue
		}
		if s.Dominant == HTTPStatus || s.Dominant == TLSError {
			st.HTTPLevel = true
			if st.Verdict == VerdictOK {
				st.Worst = fmt.Sprintf("%s %s: %s", s.Spec.Kind, s.Spec.Target, s.Summary())
			}
			continue
		}
		if rank[s.Verdict] > rank[st.Verdict] {
			st.Verdict, st.Dominant = s.Verdict, s.Dominant
			st.Worst = fmt.Sprintf("%s %s: %s", s.Spec.Kind, s.Spec.Target, s.Summary())
		}
	}
	return st
}

// Conclude says where the fault is from the legs, the way seed 004 narrows
// it down: from outside, then the node, then a pod on it.
func Conclude(legs []Leg) (c Conclusion) {
	type legRes struct {
		Leg
		st LegState
	}
	var ran, outside, cluster []legRes
	var notRun []string
	for _, l := range legs {
		st := l.State()
		if st.Verdict == VerdictNotRun {
			why := l.Error
			if why == "" {
				why = "no probe ran"
			}
			notRun = append(notRun, l.Label()+": did not run: "+why)
			continue
		}
		r := legRes{l, st}
		ran = append(ran, r)
		if l.Place.IsOutside() {
			outside = append(outside, r)
		} else {
			cluster = append(cluster, r)
		}
	}
	c = Conclusion{Locus: LocusInconclusive}
	for _, r := range ran {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s", r.Label(), r.st.Worst))
		if r.st.Verdict == VerdictIntermittent {
			c.Intermittent = true
		}
	}
	c.Evidence = append(c.Evidence, notRun...)
	defer func() {
		if len(notRun) > 0 && len(ran) > 0 {
			c.Summary += fmt.Sprintf(" (%d place(s) did not run and are not counted)", len(notRun))
		}
	}()
	if len(ran) == 0 {
		c.Summary = "no probe ran from any place"
		return c
	}
	failing := func(rs []legRes) (n int) {
		for _, r := range rs {
			if r.st.Verdict != VerdictOK {
				n++
			}
		}
		return n
	}
	allRefused := func(rs []legRes) bool {
		for _, r := range rs {
			if r.st.Verdict != VerdictPersistent || r.st.Dominant != Refused {
				return false
			}
		}
		return len(rs) > 0
	}
	how := "fails"
	if c.Intermittent {
		how = "fails intermittently"
	}
	if failing(ran) == 0 {
		var httpLegs, okLegs []string
		for _, r := range ran {
			if r.st.HTTPLevel {
				httpLegs = append(httpLegs, r.Label())
			} else {
				okLegs = append(okLegs, r.Label())
			}
		}
		if len(httpLegs) == 0 {
			c.Locus, c.Summary = LocusNone, "works from every place probed"
			return c
		}
		c.Locus = LocusHTTP
		c.Summary = "the network path works; the request fails at the HTTP/TLS level from " + strings.Join(httpLegs, ", ")
		if len(okLegs) > 0 {
			c.Summary += " but not from " + strings.Join(okLegs, ", ") + ": a proxy or firewall on the failing side answers instead of the server"
		}
		return c
	}
	clusterAllFail := len(cluster) > 0 && failing(cluster) == len(cluster)
	if len(outside) > 0 {
		outAllFail := failing(outside) == len(outside)
		switch {
		case outAllFail && (clusterAllFail || len(cluster) == 0):
			c.Locus = LocusRemote
			c.Summary = "the target " + how + " from everywhere, outside the cluster too: the remote end (or the internet path to it) is down or refusing, not the cluster"
			return c
		case failing(outside) == 0 && clusterAllFail:
			c.Locus = LocusEgress
			c.Summary = "the target works from outside the cluster and " + how + " from its nodes and pods: the cluster's egress (SNAT, route table/NVA, NSG or firewall) is where it breaks"
			return c
		}
	} else if clusterAllFail {
		if allRefused(cluster) {
			c.Locus = LocusRemote
			c.Summary = "every node and pod is refused (a reset comes back): the remote end is up but nothing listens on that port, or a device in front of it rejects; confirm from outside with --outside-netns or --from-here"
			return c
		}
		c.Locus = LocusRemoteOrEgress
		c.Summary = "the target " + how + " from every node and pod; probe from outside the cluster (--outside-netns or --from-here) to tell the remote end from the cluster's egress"
		return c
	}
	// Some cluster legs fail, others work.
	nodeOK := map[string]bool{}
	nodeFail := map[string]bool{}
	for _, r := range cluster {
		if r.Place != PlaceNode {
			continue
		}
		if r.st.Verdict == VerdictOK {
			nodeOK[r.Node] = true
		} else {
			nodeFail[r.Node] = true
		}
	}
	var podOnly, failNodes []string
	for _, r := range cluster {
		if r.st.Verdict == VerdictOK {
			continue
		}
		switch r.Place {
		case PlacePod:
			if nodeOK[r.Node] {
				podOnly = append(podOnly, r.Label())
			} else {
				nodeFail[r.Node] = true
			}
		case PlaceNode:
		}
	}
	for n := range nodeFail {
		failNodes = append(failNodes, n)
	}
	sort.Strings(failNodes)
	otherOK := false
	for _, r := range cluster {
		if r.st.Verdict == VerdictOK && !nodeFail[r.Node] {
			otherOK = true
		}
	}
	switch {
	case len(podOnly) > 0 && len(failNodes) == 0:
		c.Locus = LocusPod
		c.Summary = "the target works from the node and " + how + " from " + strings.Join(podOnly, ", ") + ": look at the pod's network (NetworkPolicy, CNI, the pod's own settings)"
	case len(failNodes) > 0 && otherOK && len(podOnly) == 0:
		c.Locus = LocusNode
		c.FailingNodes = failNodes
		c.Summary = "the target " + how + " from node(s) " + strings.Join(failNodes, ", ") + " and works from the others: look at those nodes (routes, iptables, conntrack, port range, SNAT allocation)"
	default:
		c.Summary = "the places disagree in no simple pattern; read the legs one by one"
	}
	return c
}
