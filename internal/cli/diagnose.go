package cli

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/analyze"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/report"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/version"
)

// failNever is the --fail-on value that always exits 0 after a report.
const failNever = "none"

type diagnoseOptions struct {
	bundle string
	output string
	failOn string
	// clientIPs are --client-ip as given, clients as parsed.
	clientIPs []string
	clients   []netip.Addr
	verbose   bool
	nodeData  nodeDataOptions
	azure     azureOptions
	probe     probeOptions
}

func newDiagnoseCmd(g *globals) *cobra.Command {
	o := &diagnoseOptions{}
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Diagnose the cluster (live, or offline from a bundle) and report findings",
		Long: `Diagnose reads the cluster of the current kubeconfig (or a bundle made by
'netdoctor collect' with --bundle) and reports findings: the cause, the
evidence and the fix. It is read-only unless --node-data or --probe is given,
which run short-lived, labelled agent pods and always remove them.

Exit status: 0 when nothing at or above --fail-on was found, 1 when something
was, 2 on usage or runtime errors.`,
		Example: `  netdoctor diagnose
  netdoctor diagnose -n shop -o json
  netdoctor diagnose --bundle examples/broken-cluster.tar.gz
  netdoctor diagnose --node-data --probe --fail-on warning`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), g)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.bundle, "bundle", "", "diagnose a bundle (directory or .tar.gz) instead of the live cluster")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: "+strings.Join(report.FormatNames(), "|"))
	fs.StringVar(&o.failOn, "fail-on", string(finding.Critical), "exit 1 when a finding has this severity or higher: info|warning|critical, or none to always exit 0")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "list every check, including those that passed")
	fs.StringSliceVar(&o.clientIPs, "client-ip", nil, "an address outside the cluster that should reach LoadBalancer Services: checked against their loadBalancerSourceRanges through kube-proxy's rules (needs node data; repeatable)")
	o.nodeData.addFlags(fs)
	o.azure.addFlags(fs)
	o.probe.addFlags(fs)
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(report.FormatNames()...))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", fixedCompletion("info", "warning", "critical", failNever))
	return cmd
}

func (o *diagnoseOptions) validate() error {
	if _, ok := report.Formats[o.output]; !ok {
		return usageError("unknown output format %q (want %s)", o.output, strings.Join(report.FormatNames(), ", "))
	}
	if o.failOn != failNever {
		if _, err := finding.ParseSeverity(o.failOn); err != nil {
			return usageError("--fail-on: %v (or %s)", err, failNever)
		}
	}
	o.clients = nil
	for _, c := range o.clientIPs {
		ip, err := netip.ParseAddr(c)
		if err != nil || !ip.Is4() {
			return usageError("--client-ip %q: want an IPv4 address", c)
		}
		o.clients = append(o.clients, ip)
	}
	if o.bundle != "" && (o.nodeData.enabled || o.probe.enabled) {
		return usageError("--node-data and --probe need a live cluster; they cannot be used with --bundle")
	}
	return nil
}

func (o *diagnoseOptions) run(ctx context.Context, g *globals) error {
	var (
		snap *snapshot.Snapshot
		err  error
	)
	if o.bundle != "" {
		snap, err = snapshot.Read(o.bundle)
		if err == nil {
			err = o.azure.offline(snap) // --azure-dir adds az JSON files to a bundle
		}
	} else {
		snap, err = collectLive(ctx, g, collectExtras{nodeData: &o.nodeData, azure: &o.azure, probe: &o.probe})
	}
	if err != nil {
		return err
	}
	rep := analyze.Run(snap, analyze.AllWith(analyze.Options{Clients: o.clients}))
	ro := report.Options{Color: useColor(g.streams.Out), Verbose: o.verbose}
	if o.failOn != failNever {
		ro.FailOn, _ = finding.ParseSeverity(o.failOn)
	}
	if err := report.Formats[o.output](g.streams.Out, rep, ro); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if o.failOn == failNever {
		return nil
	}
	failOn, _ := finding.ParseSeverity(o.failOn)
	if rep.Worst().Rank() >= failOn.Rank() && len(rep.Findings) > 0 {
		return errFindings
	}
	return nil
}

// collectExtras are the optional collectors run after the Kubernetes objects.
type collectExtras struct {
	nodeData *nodeDataOptions
	azure    *azureOptions
	probe    *probeOptions
}

// collectLive collects a snapshot from the cluster of the current kubeconfig.
func collectLive(ctx context.Context, g *globals, extras collectExtras) (*snapshot.Snapshot, error) {
	client, err := g.kubeClient()
	if err != nil {
		return nil, err
	}
	opts := snapshot.CollectOptions{ToolVersion: version.String(), Cluster: g.clusterName()}
	if ns := g.namespace(); ns != "" {
		opts.Namespaces = []string{ns}
	}
	p := newProgress(g.streams.ErrOut)
	opts.Progress = p.step
	snap, err := snapshot.Collect(ctx, client, opts)
	p.done()
	if err != nil {
		return nil, err
	}
	if extras.nodeData != nil {
		if err := extras.nodeData.collect(ctx, g, snap); err != nil {
			return nil, err
		}
	}
	if extras.azure != nil {
		if err := extras.azure.collect(ctx, g, snap); err != nil {
			return nil, err
		}
	}
	if extras.probe != nil {
		if err := extras.probe.run(ctx, g, snap); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// kubeClient builds a clientset from the kubeconfig flags.
func (g *globals) kubeClient() (kubernetes.Interface, error) {
	if raw, err := g.config.ToRawKubeConfigLoader().RawConfig(); err == nil && len(raw.Clusters) == 0 &&
		(g.config.APIServer == nil || *g.config.APIServer == "") {
		return nil, usageError("no cluster to talk to: no kubeconfig found (KUBECONFIG, ~/.kube/config or --kubeconfig); " +
			"give one with --kubeconfig, or diagnose a bundle: netdoctor diagnose --bundle examples/broken-cluster.tar.gz")
	}
	cfg, err := g.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	// Built-in types travel as protobuf, which decodes several times
	// faster than JSON: 2.7 ms against 12.5 ms for a page of 500 pods.
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	return client, nil
}

// namespace returns the namespace given with -n, or "" for all namespaces
// (the default, and with -A).
func (g *globals) namespace() string {
	if g.allNamespaces || g.config.Namespace == nil {
		return ""
	}
	return *g.config.Namespace
}

// clusterName names the kubeconfig context in use.
func (g *globals) clusterName() string {
	raw, err := g.config.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	ctx := raw.CurrentContext
	if g.config.Context != nil && *g.config.Context != "" {
		ctx = *g.config.Context
	}
	return ctx
}

// useColor reports whether w is a terminal and NO_COLOR is unset.
func useColor(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}
