package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/analyze"
	dnsanalyze "github.com/netdoctor/netdoctor/internal/analyze/dns"
	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/report"
	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// dnsRunner runs agent requests in the cluster; *runner.Runner is one.
type dnsRunner interface {
	Run(ctx context.Context, t runner.Target, req agent.Request) (agent.Response, error)
	RunAll(ctx context.Context, hostNetwork bool, req agent.Request) ([]agent.Response, []error)
}

// dnsProbeFlags are the probe settings shared by `netdoctor dns` and
// `diagnose --probe`.
type dnsProbeFlags struct {
	names      []string
	count      int
	rate       float64
	queryTO    time.Duration
	maxRuntime time.Duration
}

func (o *dnsProbeFlags) spec(plan dnsanalyze.ProbePlan) dnsprobe.Spec {
	s := plan.Spec
	s.Count = o.count
	s.RatePerHop = o.rate
	s.TimeoutMS = int(o.queryTO / time.Millisecond)
	s.MaxDurationMS = int(o.maxRuntime / time.Millisecond)
	return s
}

func (o *dnsProbeFlags) validate() error {
	if o.count < 1 || o.count > dnsprobe.MaxCount {
		return usageError("--count must be between 1 and %d", dnsprobe.MaxCount)
	}
	if o.rate <= 0 {
		return usageError("--rate must be positive (queries per second per hop)")
	}
	if o.queryTO <= 0 || o.maxRuntime <= 0 {
		return usageError("--query-timeout and --max-duration must be positive")
	}
	return nil
}

// dnsPlace is where one DNS probe runs.
type dnsPlace struct {
	where  string
	view   string
	pod    string
	target runner.Target
}

// dnsCmdOptions are the flags of `netdoctor dns`.
type dnsCmdOptions struct {
	from     string
	node     string
	allNodes bool
	output   string
	failOn   string
	verbose  bool
	probe    dnsProbeFlags
	agent    agentOptions

	// newRunner opens the cluster runner; tests swap it.
	newRunner func(g *globals) (dnsRunner, func(), error)
	// collect reads the cluster's objects; tests swap it.
	collect func(ctx context.Context, g *globals) (*snapshot.Snapshot, error)
}

func newDNSCmd(g *globals) *cobra.Command {
	o := &dnsCmdOptions{}
	o.newRunner = func(g *globals) (dnsRunner, func(), error) {
		r, err := o.agent.newRunner(g)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { _ = r.Close(context.Background()) }, nil
	}
	o.collect = func(ctx context.Context, g *globals) (*snapshot.Snapshot, error) {
		return collectLive(ctx, g, collectExtras{})
	}
	return dnsCommand(g, o)
}

func dnsCommand(g *globals, o *dnsCmdOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Probe DNS hop by hop from inside the cluster",
		Long: `DNS runs netdoctor's agent inside the cluster and queries every hop of the DNS
path explicitly: the pod's resolv.conf nameserver, NodeLocal DNS
(169.254.20.10) when deployed, the kube-dns ClusterIP, each CoreDNS pod, and
the upstream CoreDNS forwards to. It asks a cluster name and external names,
A and AAAA, over UDP and TCP, --count times each at a bounded rate, and
prints per hop the success rate, rcodes, latency p50/p99/max, timeouts,
truncated answers, then the findings (DNS001-DNS010).

Where it runs: by default in an ordinary pod (the pod network, dnsPolicy
ClusterFirst); with --from beside an existing pod (its namespace, node and
DNS settings); with --node or --all-nodes in the node's network (hostNetwork).
When CoreDNS forwards to /etc/resolv.conf, the upstream is read on the node by
a second, node-view agent pod. Every pod is labelled and deleted on exit.`,
		Example: `  netdoctor dns
  netdoctor dns --from pod/web-0 -n shop --name api.example.com
  netdoctor dns --node aks-nodepool1-0 --count 200
  netdoctor dns --all-nodes -o json`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), g)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.from, "from", "", "probe beside this pod (pod/NAME or NAME, in -n's namespace): same namespace, node and DNS settings")
	fs.StringVar(&o.node, "node", "", "probe from this node's network (hostNetwork agent)")
	fs.BoolVar(&o.allNodes, "all-nodes", false, "probe from every Linux node's network")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	fs.StringVar(&o.failOn, "fail-on", string(finding.Critical), "exit 1 when a finding has this severity or higher: info|warning|critical, or none")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "list every check, including those that passed")
	addDNSProbeFlags(fs, &o.probe, "")
	o.agent.addFlags(fs)
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	return cmd
}

// addDNSProbeFlags registers the probe settings, with prefix before each
// name ("" for `dns`, "probe-dns-" for diagnose).
func addDNSProbeFlags(fs interface {
	StringArrayVar(*[]string, string, []string, string)
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}, o *dnsProbeFlags, prefix string) {
	name := func(n string) string {
		if prefix == "" {
			return n
		}
		return prefix + n
	}
	fs.StringArrayVar(&o.names, name("name"), nil, "a name to resolve (repeatable; names under the cluster domain count as cluster names; default "+dnsanalyze.DefaultExternalName+")")
	fs.IntVar(&o.count, name("count"), dnsprobe.DefaultCount, "queries per name, type (A, AAAA) and transport (UDP, TCP) at each hop")
	fs.Float64Var(&o.rate, name("rate"), dnsprobe.DefaultRatePerHop, "at most this many queries per second to each hop")
	fs.DurationVar(&o.queryTO, name("query-timeout"), dnsprobe.DefaultTimeout, "how long to wait for one answer")
	fs.DurationVar(&o.maxRuntime, name("max-duration"), dnsprobe.DefaultMaxDuration, "stop probing after this long, whatever the count")
}

func (o *dnsCmdOptions) validate() error {
	n := 0
	for _, set := range []bool{o.from != "", o.node != "", o.allNodes} {
		if set {
			n++
		}
	}
	if n > 1 {
		return usageError("--from, --node and --all-nodes are exclusive")
	}
	if o.output != "text" && o.output != "json" {
		return usageError("unknown output format %q (want text or json)", o.output)
	}
	if o.failOn != failNever {
		if _, err := finding.ParseSeverity(o.failOn); err != nil {
			return usageError("--fail-on: %v (or %s)", err, failNever)
		}
	}
	return o.probe.validate()
}

// places turns the flags into where the probe runs.
func (o *dnsCmdOptions) places(g *globals, snap *snapshot.Snapshot) ([]dnsPlace, error) {
	switch {
	case o.from != "":
		name := strings.TrimPrefix(o.from, "pod/")
		ns := g.namespace()
		if n, p, ok := strings.Cut(name, "/"); ok {
			ns, name = n, p
		}
		if ns == "" {
			ns = "default"
		}
		pod := snap.Index().Pod(ns, name)
		if pod == nil {
			return nil, usageError("--from: no pod %s/%s", ns, name)
		}
		if pod.Spec.NodeName == "" {
			return nil, fmt.Errorf("--from: pod %s/%s is not scheduled on a node yet", ns, name)
		}
		return []dnsPlace{{where: fmt.Sprintf("beside pod %s/%s on %s", ns, name, pod.Spec.NodeName), view: "pod", pod: ns + "/" + name,
			target: runner.Target{Node: pod.Spec.NodeName, BesidePod: ns + "/" + name}}}, nil
	case o.node != "":
		if snap.Index().Node(o.node) == nil {
			return nil, usageError("--node: no node %q", o.node)
		}
		return []dnsPlace{{where: "node " + o.node, view: "node", target: runner.Target{Node: o.node, HostNetwork: true}}}, nil
	case o.allNodes:
		return nil, nil // RunAll
	}
	node := pickProbeNode(snap)
	if node == "" {
		return nil, errors.New("no ready Linux node to run the DNS probe on")
	}
	return []dnsPlace{{where: "a pod on " + node, view: "pod", target: runnerTarget(node)}}, nil
}

// runnerTarget is an ordinary agent pod (pod network, ClusterFirst) on node.
func runnerTarget(node string) runner.Target { return runner.Target{Node: node} }

// pickProbeNode picks a ready Linux node, preferring one without a CoreDNS
// pod so that queries cross the network as most pods' do.
func pickProbeNode(snap *snapshot.Snapshot) string {
	core := map[string]bool{}
	for _, p := range snap.Index().SelectPods("kube-system", dnsanalyze.CoreDNSLabel) {
		core[p.Spec.NodeName] = true
	}
	var ready []string
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		if n.Labels[corev1.LabelOSStable] == "windows" || n.Spec.Unschedulable {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = append(ready, n.Name)
			}
		}
	}
	sort.Strings(ready)
	for _, n := range ready {
		if !core[n] {
			return n
		}
	}
	if len(ready) > 0 {
		return ready[0]
	}
	return ""
}

func (o *dnsCmdOptions) run(ctx context.Context, g *globals) error {
	snap, err := o.collect(ctx, g)
	if err != nil {
		return err
	}
	places, err := o.places(g, snap)
	if err != nil {
		return err
	}
	r, closeRunner, err := o.newRunner(g)
	if err != nil {
		return err
	}
	defer closeRunner()
	plan := dnsanalyze.PlanProbe(snap, o.probe.names)
	obs := runDNSProbe(ctx, r, plan, o.probe.spec(plan), places, o.allNodes)
	b, err := obs.Encode()
	if err != nil {
		return fmt.Errorf("encode dns probe observations: %w", err)
	}
	snap.SetFile(dnsprobe.ObservationsPath, b)
	rep := analyze.Run(snap, dnsAnalyzers())
	if o.output == "json" {
		if err := writeDNSJSON(g.streams.Out, rep, obs); err != nil {
			return err
		}
	} else {
		if err := writeHopTable(g.streams.Out, obs); err != nil {
			return err
		}
		if err := report.Text(g.streams.Out, rep, report.Options{Color: useColor(g.streams.Out), Verbose: o.verbose}); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	if o.failOn == failNever {
		return nil
	}
	failOn, _ := finding.ParseSeverity(o.failOn)
	if len(rep.Findings) > 0 && rep.Worst().Rank() >= failOn.Rank() {
		return errFindings
	}
	if len(obs.Runs) == 0 {
		return fmt.Errorf("the DNS probe ran nowhere: %s", failedSummary(obs))
	}
	return nil
}

// dnsAnalyzers are the analyzers `netdoctor dns` reports.
func dnsAnalyzers() []analyze.Analyzer {
	var out []analyze.Analyzer
	for _, a := range analyze.All() {
		if strings.HasPrefix(a.Name(), "dns") || a.Name() == "kube-dns" {
			out = append(out, a)
		}
	}
	return out
}

func failedSummary(obs *dnsprobe.Observations) string {
	var s []string
	for _, f := range obs.Failed {
		s = append(s, f.Where+": "+f.Error)
	}
	return strings.Join(s, "; ")
}

// runDNSProbe runs the probe at every place (or, with allNodes, on every
// node's network) and, for pod views when CoreDNS's upstream is only known
// on the node, a node-view run on the same node whose upstream hops join
// the pod view's result.
func runDNSProbe(ctx context.Context, r dnsRunner, plan dnsanalyze.ProbePlan, spec dnsprobe.Spec, places []dnsPlace, allNodes bool) *dnsprobe.Observations {
	obs := &dnsprobe.Observations{Names: spec.Names}
	request := func(s dnsprobe.Spec) agent.Request {
		b, _ := json.Marshal(s)
		return agent.Request{Kind: dnsprobe.Kind, Spec: b}
	}
	decode := func(resp agent.Response, pl dnsPlace) (*dnsprobe.Result, error) {
		if len(resp.Result) == 0 {
			if resp.Error != "" {
				return nil, errors.New(resp.Error)
			}
			return nil, errors.New("the agent returned no result")
		}
		var res dnsprobe.Result
		if err := json.Unmarshal(resp.Result, &res); err != nil {
			return nil, fmt.Errorf("bad dns probe result: %w", err)
		}
		if resp.Error != "" {
			res.Notes = append(res.Notes, resp.Error)
		}
		res.Where, res.View, res.Pod = pl.where, pl.view, pl.pod
		if res.Node == "" {
			res.Node = resp.Node
		}
		return &res, nil
	}
	if allNodes {
		resps, errs := r.RunAll(ctx, true, request(spec))
		for _, resp := range resps {
			pl := dnsPlace{where: "node " + resp.Node, view: "node"}
			res, err := decode(resp, pl)
			if err != nil {
				obs.Failed = append(obs.Failed, dnsprobe.FailedRun{Where: pl.where, Error: err.Error()})
				continue
			}
			obs.Runs = append(obs.Runs, *res)
		}
		for _, err := range errs {
			obs.Failed = append(obs.Failed, dnsprobe.FailedRun{Where: "node", Error: err.Error()})
		}
		sortRuns(obs)
		return obs
	}
	type out struct {
		res      *dnsprobe.Result
		upstream *dnsprobe.Result
		err      error
	}
	results := make([]out, len(places))
	var wg sync.WaitGroup
	for i, pl := range places {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			if pl.view == "pod" && !plan.UpstreamKnown {
				inner.Add(1)
				go func() {
					defer inner.Done()
					results[i].upstream = probeUpstreamAsCoreDNS(ctx, r, spec, pl, request, decode)
				}()
			}
			podSpec := spec
			podSpec.UpstreamResolvConf = nil
			resp, err := r.Run(ctx, pl.target, request(podSpec))
			if err == nil {
				results[i].res, err = decode(resp, pl)
			}
			results[i].err = err
			inner.Wait()
		}()
	}
	wg.Wait()
	for i, o := range results {
		if o.err != nil {
			obs.Failed = append(obs.Failed, dnsprobe.FailedRun{Where: places[i].where, Error: o.err.Error()})
			continue
		}
		res := o.res
		if o.upstream != nil {
			for _, h := range o.upstream.Hops {
				if h.Hop.Name == dnsprobe.HopUpstream {
					res.Hops = append(res.Hops, h)
				}
			}
			res.Notes = append(res.Notes, o.upstream.Notes...)
		}
		obs.Runs = append(obs.Runs, *res)
	}
	sortRuns(obs)
	return obs
}

// probeUpstreamAsCoreDNS probes the upstream the way CoreDNS reaches it
// when it forwards to /etc/resolv.conf: from an agent beside a CoreDNS pod
// (dnsPolicy Default: the resolv.conf CoreDNS has, and its network path),
// else from the node's network reading the host's resolv.conf.
func probeUpstreamAsCoreDNS(ctx context.Context, r dnsRunner, spec dnsprobe.Spec, pl dnsPlace,
	request func(dnsprobe.Spec) agent.Request, decode func(agent.Response, dnsPlace) (*dnsprobe.Result, error)) *dnsprobe.Result {
	up := dnsprobe.Spec{ResolvConf: "-", Count: spec.Count, RatePerHop: spec.RatePerHop,
		TimeoutMS: spec.TimeoutMS, MaxDurationMS: spec.MaxDurationMS, Types: spec.Types, Transports: spec.Transports}
	for _, n := range spec.Names {
		if n.Kind == dnsprobe.KindExternal {
			up.Names = append(up.Names, n)
		}
	}
	if len(up.Names) == 0 {
		return nil
	}
	var coreDNS []dnsprobe.Hop
	for _, h := range spec.Hops {
		if h.Name == dnsprobe.HopCoreDNS && h.Pod != "" {
			coreDNS = append(coreDNS, h)
		}
	}
	// Prefer the CoreDNS pod on the probe's node.
	sort.SliceStable(coreDNS, func(a, b int) bool { return coreDNS[a].Node == pl.target.Node && coreDNS[b].Node != pl.target.Node })
	var notes []string
	type attempt struct {
		pl    dnsPlace
		files []string
	}
	var attempts []attempt
	if len(coreDNS) > 0 {
		c := coreDNS[0]
		attempts = append(attempts, attempt{dnsPlace{where: "beside CoreDNS pod " + c.Pod, view: "pod", pod: c.Pod, target: runner.Target{Node: c.Node, BesidePod: c.Pod}}, []string{"/etc/resolv.conf"}})
	}
	if len(spec.UpstreamResolvConf) > 0 {
		attempts = append(attempts, attempt{dnsPlace{where: "node " + pl.target.Node, view: "node", target: runner.Target{Node: pl.target.Node, HostNetwork: true}}, spec.UpstreamResolvConf})
	}
	for _, a := range attempts {
		s := up
		s.UpstreamResolvConf = a.files
		resp, err := r.Run(ctx, a.pl.target, request(s))
		var res *dnsprobe.Result
		if err == nil {
			res, err = decode(resp, a.pl)
		}
		if err != nil {
			notes = append(notes, "upstream from "+a.pl.where+": "+err.Error())
			continue
		}
		found := false
		for i := range res.Hops {
			if res.Hops[i].Hop.Name == dnsprobe.HopUpstream {
				found = true
			}
		}
		if found {
			for i, n := range res.Notes {
				res.Notes[i] = a.pl.where + ": " + n
			}
			res.Notes = append(notes, append(res.Notes, "upstream probed from "+a.pl.where)...)
			return res
		}
		notes = append(notes, fmt.Sprintf("upstream from %s: no nameserver found (%s)", a.pl.where, strings.Join(res.Notes, "; ")))
	}
	return &dnsprobe.Result{Notes: notes}
}

func sortRuns(obs *dnsprobe.Observations) {
	sort.SliceStable(obs.Runs, func(i, j int) bool { return obs.Runs[i].Where < obs.Runs[j].Where })
	sort.SliceStable(obs.Failed, func(i, j int) bool { return obs.Failed[i].Where < obs.Failed[j].Where })
}

// writeHopTable prints, per place, one line per hop and name kind.
func writeHopTable(w io.Writer, obs *dnsprobe.Observations) error {
	for _, run := range obs.Runs {
		fmt.Fprintf(w, "DNS probe from %s", run.Where)
		if run.Stopped != "" {
			fmt.Fprintf(w, " (stopped: %s)", run.Stopped)
		}
		fmt.Fprintln(w)
		if rc := run.ResolvConf; rc != nil {
			fmt.Fprintf(w, "  resolv.conf: nameserver %s, search %s, ndots:%d", strings.Join(rc.Nameservers, " "), strings.Join(rc.Search, " "), rc.Ndots)
			if len(rc.Options) > 0 {
				fmt.Fprintf(w, ", options %s", strings.Join(rc.Options, " "))
			}
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  HOP\tADDRESS\tNAME\tSENT\tANSWERED\tTIMEOUTS\tRCODES\tP50\tP99\tMAX\tTC (TCP RETRY OK)\tPAIR LOSS")
		for _, h := range run.Hops {
			label := h.Hop.Name
			if h.Hop.Pod != "" {
				label += " " + h.Hop.Pod
			}
			for _, name := range h.Names() {
				t := h.TotalsOf(name)
				if t.Sent == 0 {
					continue
				}
				tc := "-"
				if t.Truncated > 0 {
					tc = fmt.Sprintf("%d (%d/%d)", t.Truncated, t.TCPRetry.OK, t.TCPRetry.Tried)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%.1f%%\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", label, h.Hop.Addr, name, t.Sent, 100*t.AnswerRate(), t.Timeouts+t.Errors,
					rcodeString(t.Rcodes), msString(t.Latency.P50MS), msString(t.Latency.P99MS), msString(t.Latency.MaxMS), tc, t.PairLoss)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range run.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		fmt.Fprintln(w)
	}
	for _, f := range obs.Failed {
		fmt.Fprintf(w, "DNS probe from %s could not run: %s\n\n", f.Where, f.Error)
	}
	return nil
}

func rcodeString(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

func msString(v float64) string {
	if v == 0 {
		return "-"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.1fms", v)
}

// writeDNSJSON prints the report contract plus the probe's observations.
func writeDNSJSON(w io.Writer, rep finding.Report, obs *dnsprobe.Observations) error {
	if rep.Findings == nil {
		rep.Findings = []finding.Finding{}
	}
	if rep.Checks == nil {
		rep.Checks = []finding.Check{}
	}
	obs.Schema = dnsprobe.ObservationsSchema
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		finding.Report
		DNSProbe *dnsprobe.Observations `json:"dnsProbe"`
	}{rep, obs})
}
