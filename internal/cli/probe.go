package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// agentRunner runs one agent request in the cluster.
type agentRunner interface {
	Run(ctx context.Context, t runner.Target, req agent.Request) (agent.Response, error)
}

// legRunner runs agent requests in the cluster; *runner.Runner is one.
type legRunner interface {
	agentRunner
	RunAll(ctx context.Context, hostNetwork bool, req agent.Request) ([]agent.Response, []error)
	Close(ctx context.Context) error
}

// probeCmdOptions are the flags of `netdoctor probe`.
type probeCmdOptions struct {
	target        string
	httpURL       string
	udp           bool
	icmp          bool
	path          bool
	from          string
	node          string
	allNodes      bool
	count         int
	interval      time.Duration
	timeout       time.Duration
	hold          time.Duration
	fromHere      bool
	outsideNetns  string
	cluster       bool
	firewallPorts string
	output        string
	agent         agentOptions

	// newRunner opens the cluster runner; tests swap it.
	newRunner func(g *globals) (legRunner, error)
	// podNode finds the node of a pod (namespace, name); tests swap it.
	podNode func(ctx context.Context, g *globals, ns, name string) (string, error)
	// outsideProber builds the prober of --outside-netns; tests swap it.
	outsideProber func(name string) (*probe.Prober, error)
	now           func() time.Time
}

func newProbeCmd(g *globals) *cobra.Command {
	o := &probeCmdOptions{}
	o.newRunner = func(g *globals) (legRunner, error) { return o.agent.newRunner(g) }
	o.podNode = lookupPodNode
	o.outsideProber = func(name string) (*probe.Prober, error) { return probe.NewInNetns(name, os.Geteuid() == 0) }
	o.now = time.Now
	return probeCommand(g, o)
}

// probeCommand builds the command around o, whose injected fields must be
// set.
func probeCommand(g *globals, o *probeCmdOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe TARGET[:PORT]",
		Short: "Probe a target from the node, a pod and outside, and say where it fails",
		Long: `Probe runs the same probes (TCP connect to TARGET:PORT, ICMP echo, and with
flags UDP, HTTP(S) and a path probe like 'mtr -r') from a node (a hostNetwork
agent pod) and from a pod on that node, repeated --count times, side by side,
and from outside the cluster when asked: --outside-netns NAME runs that leg
inside a named network namespace, --from-here from this machine. It then says
where the fault is: the remote end (fails from everywhere), the cluster's
egress (works outside, fails from nodes and pods), one node, or the pod only;
whether it is persistent or intermittent; and whether TCP fails while UDP to
the same port works (the ephemeral-port symptom).

Agent pods are labelled, short-lived and always removed. Nothing is sent from
this machine unless --from-here is given.

Exit status: 0 when every probe worked from every place, 1 when a fault was
located, 2 on usage or runtime errors.`,
		Example: `  netdoctor probe 203.0.113.10:443
  netdoctor probe api.example.com:443 --http https://api.example.com/health --count 20
  netdoctor probe 203.0.113.10:5000 --udp --all-nodes
  netdoctor probe 203.0.113.10:443 --from shop/web-7d9c --path
  netdoctor probe 203.0.113.10:443 --outside-netns lab-outside -o json > probes/egress.json`,
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.target = args[0]
			}
			specs, err := o.validate()
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), g, specs)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.httpURL, "http", "", "also make an HTTP(S) request to this URL (status, proxy pages, phase timings)")
	fs.BoolVar(&o.udp, "udp", false, "also send UDP to the same host:port and compare with TCP")
	fs.BoolVar(&o.icmp, "icmp", true, "also ping the target host")
	fs.BoolVar(&o.path, "path", false, "also trace the path hop by hop (like 'mtr -r -c COUNT'; needs raw sockets)")
	fs.StringVar(&o.from, "from", "", "probe beside this pod (pod/NAME or NAMESPACE/NAME; -n sets the namespace) and from its node")
	fs.StringVar(&o.node, "node", "", "probe from this node and from a pod on it (default: a ready node)")
	fs.BoolVar(&o.allNodes, "all-nodes", false, "probe from every node and a pod on each")
	fs.IntVar(&o.count, "count", probe.DefaultCount, fmt.Sprintf("attempts per probe (at most %d)", probe.MaxCount))
	fs.DurationVar(&o.interval, "interval", probe.DefaultInterval, "pause between attempts")
	fs.DurationVar(&o.timeout, "probe-timeout", probe.DefaultTimeout, "timeout of one attempt")
	fs.DurationVar(&o.hold, "hold", 0, "keep each TCP connection open this long to see whether it is reset")
	fs.BoolVar(&o.fromHere, "from-here", false, "also probe from this machine")
	fs.StringVar(&o.outsideNetns, "outside-netns", "", "also probe from inside this network namespace (a name under /run/netns, or a path), standing outside the cluster")
	fs.BoolVar(&o.cluster, "cluster", true, "probe from the cluster's nodes and pods (--cluster=false probes only from --from-here/--outside-netns)")
	fs.StringVar(&o.firewallPorts, "firewall-ports", probe.DefaultFirewallReturnPorts, "local port range the egress firewall lets TCP replies back in to (LOW-HIGH), recorded for the analyzers")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text|json (json is the probes/egress.json bundle format)")
	o.agent.addFlags(fs)
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	return cmd
}

// validate checks the flags and returns the probes to run.
func (o *probeCmdOptions) validate() ([]probe.Spec, error) {
	if o.output != "text" && o.output != "json" {
		return nil, usageError("unknown output format %q (want text or json)", o.output)
	}
	if o.count <= 0 || o.count > probe.MaxCount {
		return nil, usageError("--count must be between 1 and %d", probe.MaxCount)
	}
	if o.interval < 0 || o.timeout <= 0 || o.hold < 0 {
		return nil, usageError("--interval and --hold must not be negative, --probe-timeout must be positive")
	}
	if _, _, err := parsePortRange(o.firewallPorts); err != nil {
		return nil, usageError("--firewall-ports: %v", err)
	}
	places := 0
	for _, set := range []bool{o.from != "", o.node != "", o.allNodes} {
		if set {
			places++
		}
	}
	if places > 1 {
		return nil, usageError("--from, --node and --all-nodes are exclusive")
	}
	if !o.cluster && places > 0 {
		return nil, usageError("--cluster=false cannot be combined with --from, --node or --all-nodes")
	}
	if !o.cluster && !o.fromHere && o.outsideNetns == "" {
		return nil, usageError("--cluster=false needs --from-here or --outside-netns: there would be nowhere to probe from")
	}
	if o.target == "" && o.httpURL == "" {
		return nil, usageError("give a TARGET[:PORT], or --http URL")
	}
	base := probe.Spec{Count: o.count, Interval: probe.Duration(o.interval), Timeout: probe.Duration(o.timeout)}
	var specs []probe.Spec
	host := ""
	if o.target != "" {
		h, port, err := splitTarget(o.target)
		if err != nil {
			return nil, usageError("target %q: %v", o.target, err)
		}
		host = h
		if port != "" {
			tcp := base
			tcp.Kind, tcp.Target, tcp.Hold = probe.KindTCP, net.JoinHostPort(h, port), probe.Duration(o.hold)
			specs = append(specs, tcp)
			if o.udp {
				udp := base
				udp.Kind, udp.Target = probe.KindUDP, net.JoinHostPort(h, port)
				specs = append(specs, udp)
			}
		} else if o.udp {
			return nil, usageError("--udp needs TARGET:PORT")
		}
	}
	if o.httpURL != "" {
		u, err := url.Parse(o.httpURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return nil, usageError("--http %q: want an http:// or https:// URL", o.httpURL)
		}
		h := base
		h.Kind, h.Target = probe.KindHTTP, o.httpURL
		specs = append(specs, h)
		if host == "" {
			host = u.Hostname()
		}
	}
	if o.icmp {
		s := base
		s.Kind, s.Target = probe.KindICMP, host
		specs = append(specs, s)
	}
	if o.path {
		s := base
		s.Kind, s.Target, s.Interval = probe.KindPath, host, probe.Duration(max(o.interval, time.Second))
		specs = append(specs, s)
	}
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, usageError("%v", err)
		}
	}
	return specs, nil
}

// splitTarget splits TARGET[:PORT] ("[v6]:port" for IPv6).
func splitTarget(t string) (host, port string, err error) {
	if h, p, err := net.SplitHostPort(t); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("port %q: want 1-65535", p)
		}
		return h, p, nil
	}
	if strings.Contains(t, "/") || strings.Count(t, ":") == 1 {
		return "", "", fmt.Errorf("want HOST or HOST:PORT")
	}
	return strings.Trim(t, "[]"), "", nil
}

// parsePortRange parses "LOW-HIGH".
func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q: want LOW-HIGH within 1-65535", s)
	}
	return lo, hi, nil
}

// run probes from every place, concludes, and prints.
func (o *probeCmdOptions) run(ctx context.Context, g *globals, specs []probe.Spec) error {
	req := probe.Request{Probes: specs}
	var (
		mu   sync.Mutex
		legs []probe.Leg
		wg   sync.WaitGroup
	)
	add := func(l ...probe.Leg) {
		mu.Lock()
		defer mu.Unlock()
		legs = append(legs, l...)
	}
	if o.outsideNetns != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leg := probe.Leg{Place: probe.PlaceOutside, Name: o.outsideNetns}
			p, err := o.outsideProber(o.outsideNetns)
			if err != nil {
				leg.Error = err.Error()
			} else {
				fillLeg(ctx, &leg, p, req)
			}
			add(leg)
		}()
	}
	if o.fromHere {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leg := probe.Leg{Place: probe.PlaceHere, Name: "this machine"}
			fillLeg(ctx, &leg, probe.New(os.Geteuid() == 0), req)
			add(leg)
		}()
	}
	var clusterErr error
	if o.cluster {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := o.clusterLegs(ctx, g, req)
			add(l...)
			clusterErr = err
		}()
	}
	wg.Wait()
	if clusterErr != nil && len(legs) == 0 {
		return clusterErr
	}
	if clusterErr == nil {
		clusterErr = legErrors(legs)
	}
	sortLegs(legs)
	run := probe.Run{Target: o.target, At: o.now().UTC(), Legs: legs, Conclusion: probe.Conclude(legs)}
	if run.Target == "" {
		run.Target = o.httpURL
	}
	file := probe.File{SchemaVersion: probe.FileSchema, FirewallReturnPorts: o.firewallPorts, Runs: []probe.Run{run}}
	var err error
	if o.output == "json" {
		enc := json.NewEncoder(g.streams.Out)
		enc.SetIndent("", "  ")
		err = enc.Encode(file)
	} else {
		err = writeProbeText(g.streams.Out, run, specs)
	}
	if err != nil {
		return err
	}
	if clusterErr != nil {
		return clusterErr
	}
	if run.Conclusion.Locus != probe.LocusNone {
		return errFindings
	}
	return nil
}

// skippedPrefix marks a leg the runner skipped on purpose (a Windows or
// not-ready node): reported, but not an error of the run.
const skippedPrefix = "skipped: "

// legErrors returns an error naming the legs that could not run (other than
// skipped ones), or nil.
func legErrors(legs []probe.Leg) error {
	var failed []string
	for _, l := range legs {
		if l.Error != "" && len(l.Series) == 0 && !strings.HasPrefix(l.Error, skippedPrefix) {
			failed = append(failed, l.Label()+": "+l.Error)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d place(s) could not probe:\n  %s", len(failed), strings.Join(failed, "\n  "))
}

func fillLeg(ctx context.Context, leg *probe.Leg, p *probe.Prober, req probe.Request) {
	rep, err := p.Do(ctx, req)
	if err != nil {
		leg.Error = err.Error()
		return
	}
	leg.Series, leg.Comparisons = rep.Series, rep.Comparisons
}

// clusterLegs runs the node and pod legs through agent pods.
func (o *probeCmdOptions) clusterLegs(ctx context.Context, g *globals, req probe.Request) ([]probe.Leg, error) {
	spec, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode probe request: %w", err)
	}
	areq := agent.Request{Kind: probe.AgentKind, Spec: spec}
	// The agent pod must outlive the whole series.
	var longest time.Duration
	for _, s := range req.Probes {
		longest = max(longest, time.Duration(s.WithDefaults().Deadline))
	}
	if need := longest + time.Minute; o.agent.timeout < need {
		o.agent.timeout = need
	}
	r, err := o.newRunner(g)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close(context.WithoutCancel(ctx)) }()

	if o.allNodes {
		var legs []probe.Leg
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, hostNet := range []bool{true, false} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resps, es := r.RunAll(ctx, hostNet, areq)
				mu.Lock()
				defer mu.Unlock()
				place := probe.PlacePod
				if hostNet {
					place = probe.PlaceNode
				}
				for _, resp := range resps {
					legs = append(legs, legFromResponse(place, resp.Node, resp))
				}
				for _, e := range es {
					node := ""
					if ne, ok := e.(*runner.NodeError); ok {
						node = ne.Node
					}
					msg := e.Error()
					if errors.Is(e, runner.ErrSkipped) {
						msg = skippedPrefix + msg
					}
					legs = append(legs, probe.Leg{Place: place, Name: legName(place, node), Node: node, Error: msg})
				}
			}()
		}
		wg.Wait()
		return legs, nil
	}

	node, beside := o.node, ""
	if o.from != "" {
		ns, name, err := o.podRef(g)
		if err != nil {
			return nil, err
		}
		beside = ns + "/" + name
		if node, err = o.podNode(ctx, g, ns, name); err != nil {
			return nil, err
		}
	}
	nodeLeg := runLeg(ctx, r, probe.PlaceNode, runner.Target{Node: node, HostNetwork: true}, areq)
	if node == "" {
		node = nodeLeg.Node
	}
	podLeg := runLeg(ctx, r, probe.PlacePod, runner.Target{Node: node, BesidePod: beside}, areq)
	if beside != "" {
		podLeg.Name = "beside " + beside
	}
	return []probe.Leg{nodeLeg, podLeg}, nil
}

// podRef parses --from pod/NAME or NAMESPACE/NAME.
func (o *probeCmdOptions) podRef(g *globals) (string, string, error) {
	ns := ""
	if g.config.Namespace != nil {
		ns = *g.config.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	ref := strings.TrimPrefix(strings.TrimPrefix(o.from, "pod/"), "pods/")
	if a, b, ok := strings.Cut(ref, "/"); ok {
		ns, ref = a, b
	}
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", usageError("--from %q: want pod/NAME or NAMESPACE/NAME", o.from)
	}
	return ns, ref, nil
}

func lookupPodNode(ctx context.Context, g *globals, ns, name string) (string, error) {
	client, err := g.kubeClient()
	if err != nil {
		return "", err
	}
	pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("--from: get pod %s/%s: %w", ns, name, err)
	}
	if pod.Spec.NodeName == "" {
		return "", fmt.Errorf("--from: pod %s/%s is not scheduled on a node yet", ns, name)
	}
	return pod.Spec.NodeName, nil
}

func runLeg(ctx context.Context, r agentRunner, place probe.Place, t runner.Target, req agent.Request) probe.Leg {
	resp, err := r.Run(ctx, t, req)
	if err != nil {
		return probe.Leg{Place: place, Name: legName(place, t.Node), Node: t.Node, Error: err.Error()}
	}
	node := resp.Node
	if node == "" {
		node = t.Node
	}
	return legFromResponse(place, node, resp)
}

func legName(place probe.Place, node string) string {
	if place == probe.PlacePod {
		return "agent pod"
	}
	if node == "" {
		return "(any)"
	}
	return node
}

func legFromResponse(place probe.Place, node string, resp agent.Response) probe.Leg {
	leg := probe.Leg{Place: place, Name: legName(place, node), Node: node, Error: resp.Error}
	if len(resp.Result) > 0 {
		var rep probe.Report
		if err := json.Unmarshal(resp.Result, &rep); err != nil {
			leg.Error = strings.TrimPrefix(leg.Error+"; ", "; ") + "decode probe result: " + err.Error()
		}
		leg.Series, leg.Comparisons = rep.Series, rep.Comparisons
	}
	return leg
}

// sortLegs orders outside, here, then node and pod per node.
func sortLegs(legs []probe.Leg) {
	rank := map[probe.Place]int{probe.PlaceOutside: 0, probe.PlaceHere: 1, probe.PlaceNode: 2, probe.PlacePod: 3}
	sort.SliceStable(legs, func(i, j int) bool {
		a, b := legs[i], legs[j]
		if a.Place.IsOutside() != b.Place.IsOutside() {
			return a.Place.IsOutside()
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return rank[a.Place] < rank[b.Place]
	})
}

// writeProbeText prints the legs as a table (one column per probe), the
// TCP/UDP comparisons, path hops, and the conclusion.
func writeProbeText(w io.Writer, run probe.Run, specs []probe.Spec) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PLACE")
	for _, s := range specs {
		fmt.Fprintf(tw, "\t%s %s", strings.ToUpper(string(s.Kind)), s.Target)
	}
	fmt.Fprintln(tw)
	for _, l := range run.Legs {
		fmt.Fprint(tw, l.Label())
		if l.Error != "" && len(l.Series) == 0 {
			fmt.Fprintf(tw, "\tdid not run: %s", l.Error)
		}
		for _, s := range l.Series {
			cell := s.Summary()
			if s.Verdict != probe.VerdictNotRun && s.Spec.Kind == probe.KindHTTP {
				cell += httpNote(s)
			}
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range run.Legs {
		for _, c := range l.Comparisons {
			fmt.Fprintf(w, "\n%s: TCP vs UDP to %s: %s\n", l.Label(), c.Target, c.Note)
		}
		for _, s := range l.Series {
			if note := failureNote(s); note != "" {
				fmt.Fprintf(w, "\n%s: %s %s: %s\n", l.Label(), strings.ToUpper(string(s.Spec.Kind)), s.Spec.Target, note)
			}
		}
	}
	for _, l := range run.Legs {
		for _, s := range l.Series {
			if s.Path == nil || len(s.Path.Hops) == 0 {
				continue
			}
			fmt.Fprintf(w, "\npath from %s to %s:\n", l.Label(), s.Path.Target)
			ptw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(ptw, "TTL\tHOST\tLOSS%\tSNT\tLAST\tAVG\tBEST\tWRST\tSTDEV\t")
			for _, h := range s.Path.Hops {
				host := h.Host
				if host == "" {
					host = "???"
				}
				fmt.Fprintf(ptw, "%d\t%s\t%.1f%%\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", h.TTL, host, h.LossPct, h.Sent, h.LastMillis, h.AvgMillis, h.BestMillis, h.WorstMillis, h.StdDev)
			}
			if err := ptw.Flush(); err != nil {
				return err
			}
		}
	}
	c := run.Conclusion
	fmt.Fprintf(w, "\nWhere: %s\n  %s\n", c.Locus, c.Summary)
	return nil
}

// failureNote explains an HTTP-level failure: the status's meaning and the
// signs of a proxy, or the TLS reason.
func failureNote(s probe.Series) string {
	if s.Spec.Kind != probe.KindHTTP || !s.Failed() {
		return ""
	}
	for _, o := range s.Observations {
		if o.Outcome != s.Dominant {
			continue
		}
		switch {
		case o.HTTP != nil && o.HTTP.Status != 0:
			note := o.HTTP.Meaning
			if len(o.HTTP.ProxyHints) > 0 {
				note += " [" + strings.Join(o.HTTP.ProxyHints, "; ") + "]"
			}
			return note
		case o.Outcome == probe.TLSError:
			return "TLS failed: " + o.Detail
		}
		return ""
	}
	return ""
}

func httpNote(s probe.Series) string {
	for _, o := range s.Observations {
		if o.HTTP != nil && o.HTTP.FromGateway {
			return " (from a gateway/proxy)"
		}
	}
	return ""
}

// egressProbeFlags are diagnose --probe's egress targets.
type egressProbeFlags struct {
	targets []string
	count   int
	udp     bool
}

func addEgressProbeFlags(fs *pflag.FlagSet, f *egressProbeFlags) {
	fs.StringArrayVar(&f.targets, "probe-egress", nil, "with --probe: probe this outbound target (HOST:PORT, or an http(s) URL) from a node and a pod on it, for the egress checks (repeatable)")
	fs.IntVar(&f.count, "probe-egress-count", 10, "with --probe-egress: attempts per probe")
	fs.BoolVar(&f.udp, "probe-egress-udp", false, "with --probe-egress: also send UDP to each HOST:PORT and compare with TCP (the ephemeral-port check, EGR004)")
}

// runDiagnoseEgress is diagnose --probe's egress probe: every
// --probe-egress target from a node (hostNetwork) and a pod on it, written
// as probes/egress.json.
func runDiagnoseEgress(ctx context.Context, o *probeOptions, r dnsRunner, snap *snapshot.Snapshot) ([]byte, error) {
	f := o.egress
	if len(f.targets) == 0 {
		return nil, fmt.Errorf("no --probe-egress target given")
	}
	node := pickProbeNode(snap)
	if node == "" {
		return nil, fmt.Errorf("no ready Linux node to run the egress probe on")
	}
	file := probe.File{SchemaVersion: probe.FileSchema, FirewallReturnPorts: probe.DefaultFirewallReturnPorts}
	for _, t := range f.targets {
		po := &probeCmdOptions{count: f.count, interval: probe.DefaultInterval, timeout: probe.DefaultTimeout, icmp: true,
			cluster: true, firewallPorts: probe.DefaultFirewallReturnPorts, output: "json"}
		if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") {
			po.httpURL = t
			if u, err := url.Parse(t); err == nil && u.Hostname() != "" {
				port := u.Port()
				if port == "" {
					port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
				}
				po.target = net.JoinHostPort(u.Hostname(), port)
			}
		} else {
			po.target = t
			po.udp = f.udp
		}
		specs, err := po.validate()
		if err != nil {
			return nil, fmt.Errorf("--probe-egress %q: %w", t, err)
		}
		spec, err := json.Marshal(probe.Request{Probes: specs})
		if err != nil {
			return nil, fmt.Errorf("encode probe request: %w", err)
		}
		req := agent.Request{Kind: probe.AgentKind, Spec: spec}
		legs := []probe.Leg{
			runLeg(ctx, r, probe.PlaceNode, runner.Target{Node: node, HostNetwork: true}, req),
			runLeg(ctx, r, probe.PlacePod, runner.Target{Node: node}, req),
		}
		file.Runs = append(file.Runs, probe.Run{Target: t, At: snap.Now().UTC(), Legs: legs, Conclusion: probe.Conclude(legs)})
	}
	return json.MarshalIndent(file, "", "  ")
}
