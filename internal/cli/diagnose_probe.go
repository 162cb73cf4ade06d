package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	dnsanalyze "github.com/netdoctor/netdoctor/internal/analyze/dns"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// probeOptions controls the active probes diagnose runs (--probe).
type probeOptions struct {
	enabled bool
	dns     dnsProbeFlags
	egress  egressProbeFlags
	// fs is the command's flag set: the agent flags (--image, --timeout...)
	// are registered once per command, by whoever comes first.
	fs    *pflag.FlagSet
	agent agentOptions
	// newRunner opens the cluster runner; tests swap it.
	newRunner func(g *globals, a agentOptions) (dnsRunner, func(), error)
}

// clusterProbe is one kind of probe diagnose --probe runs: it returns the
// content of probes/<name>.json.
type clusterProbe struct {
	name string
	run  func(ctx context.Context, o *probeOptions, r dnsRunner, snap *snapshot.Snapshot) ([]byte, error)
}

// clusterProbes is the table of probes diagnose --probe runs; add a line
// per probe kind.
var clusterProbes = []clusterProbe{
	{name: "dns", run: runDiagnoseDNS},
	{name: "egress", run: runDiagnoseEgress},
}

func (o *probeOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "probe", false, "also run active probes from inside the cluster (creates short-lived, labelled agent pods and removes them)")
	addDNSProbeFlags(fs, &o.dns, "probe-dns-")
	addEgressProbeFlags(fs, &o.egress)
	o.fs = fs
	if fs.Lookup("image") == nil {
		o.agent.addFlags(fs)
	}
}

// agentFlags returns the agent flags' values, wherever they were registered.
func (o *probeOptions) agentFlags() (agentOptions, error) {
	a := o.agent
	if o.fs == nil {
		return a, nil
	}
	var err error
	get := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	var e error
	a.image, e = o.fs.GetString("image")
	get(e)
	a.imagePullSecrets, e = o.fs.GetStringSlice("image-pull-secret")
	get(e)
	a.nodeSelector, e = o.fs.GetStringToString("node-selector")
	get(e)
	a.tolerations, e = o.fs.GetStringArray("toleration")
	get(e)
	a.namespace, e = o.fs.GetString("agent-namespace")
	get(e)
	a.timeout, e = o.fs.GetDuration("timeout")
	get(e)
	a.maxParallel, e = o.fs.GetInt("max-parallel")
	get(e)
	return a, err
}

// run adds probe observations to snap.Files (probes/<name>.json) for the
// analyzers to read. A probe that cannot run is recorded in the manifest's
// skipped list; the diagnosis goes on without it.
func (o *probeOptions) run(ctx context.Context, g *globals, snap *snapshot.Snapshot) error {
	if !o.enabled {
		return nil
	}
	if err := o.dns.validate(); err != nil {
		return err
	}
	a, err := o.agentFlags()
	if err != nil {
		return fmt.Errorf("--probe: agent flags: %w", err)
	}
	newRunner := o.newRunner
	if newRunner == nil {
		newRunner = func(g *globals, a agentOptions) (dnsRunner, func(), error) {
			r, err := a.newRunner(g)
			if err != nil {
				return nil, nil, err
			}
			return r, func() { _ = r.Close(context.Background()) }, nil
		}
	}
	r, closeRunner, err := newRunner(g, a)
	if err != nil {
		return err
	}
	defer closeRunner()
	for _, p := range clusterProbes {
		b, err := p.run(ctx, o, r, snap)
		if err != nil {
			snap.Manifest.Skipped = append(snap.Manifest.Skipped, snapshot.Skip{Resource: "probes/" + p.name, Reason: err.Error()})
			continue
		}
		snap.SetFile("probes/"+p.name+".json", b)
	}
	return ctx.Err()
}

// runDiagnoseDNS probes DNS from an ordinary pod on one node (the path most
// pods use), with the node's view of the upstream.
func runDiagnoseDNS(ctx context.Context, o *probeOptions, r dnsRunner, snap *snapshot.Snapshot) ([]byte, error) {
	node := pickProbeNode(snap)
	if node == "" {
		return nil, fmt.Errorf("no ready Linux node to run the DNS probe on")
	}
	plan := dnsanalyze.PlanProbe(snap, o.dns.names)
	places := []dnsPlace{{where: "a pod on " + node, view: "pod", target: runnerTarget(node)}}
	// A probe that ran nowhere is still written: its failures become the
	// DNS probe checks' reasons.
	return runDNSProbe(ctx, r, plan, o.dns.spec(plan), places, false).Encode()
}
