package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type collectOptions struct {
	output   string
	nodeData nodeDataOptions
	azure    azureOptions
	probe    probeOptions
}

func newCollectCmd(g *globals) *cobra.Command {
	o := &collectOptions{}
	cmd := &cobra.Command{
		Use:   "collect -o FILE.tar.gz|DIR",
		Short: "Collect what netdoctor reads into a bundle for offline diagnosis",
		Long: `Collect writes a bundle (a directory, or a .tar.gz when the name ends so) of
everything netdoctor's analyzers read: nodes, pods, Services, EndpointSlices,
NetworkPolicies, events, the kube-system ConfigMaps of CoreDNS, coredns-custom,
NodeLocal DNS and kube-proxy, and the kube-system DaemonSets and Deployments.
Secrets are never read. manifest.json records the tool and server versions,
the time, and what could not be collected and why (for example RBAC).

'netdoctor diagnose --bundle FILE' on the bundle gives the same findings as a
live diagnose of the same cluster.`,
		Example: `  netdoctor collect -o cluster.tar.gz
  netdoctor collect -n shop -o ./bundle
  netdoctor collect --node-data -o cluster.tar.gz
  netdoctor collect --node-data --probe -o cluster.tar.gz   # with DNS and egress probe observations`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.output == "" {
				return usageError("collect needs -o FILE.tar.gz or -o DIR")
			}
			return o.run(cmd.Context(), g)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.output, "output", "o", "", "where to write the bundle: a directory, or a file ending in .tar.gz")
	o.nodeData.addFlags(fs)
	o.azure.addFlags(fs)
	o.probe.addFlags(fs)
	return cmd
}

func (o *collectOptions) run(ctx context.Context, g *globals) error {
	o.nodeData.required = true
	snap, err := collectLive(ctx, g, collectExtras{nodeData: &o.nodeData, azure: &o.azure, probe: &o.probe})
	if err != nil {
		return err
	}
	if err := snap.Write(o.output); err != nil {
		return err
	}
	for _, sk := range snap.Manifest.Skipped {
		fmt.Fprintf(g.streams.ErrOut, "not collected: %s: %s\n", sk.Resource, sk.Reason)
	}
	fmt.Fprintf(g.streams.ErrOut, "wrote %s (%d nodes, %d pods, %d services, %d events)\n",
		o.output, len(snap.Nodes), len(snap.Pods), len(snap.Services), len(snap.Events))
	return nil
}
