package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/lab"
)

// exitError carries a command's exit status out of `ndlab exec`.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var runDir, name string
	root := &cobra.Command{
		Use:           "ndlab",
		Short:         "netdoctor's lab: a real Kubernetes cluster in network namespaces, with faults",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			if runDir == "" {
				runDir = lab.RunDirFor(name)
			}
		},
	}
	root.PersistentFlags().StringVar(&runDir, "run-dir", "", "lab run directory (default $NDLAB_RUN or /run/ndlab; /run/ndlab-NAME for --name)")
	root.PersistentFlags().StringVar(&name, "name", "", "lab name, to run a second lab beside the default one (namespaces ndlNAME-*)")
	root.AddCommand(
		newUpCmd(&runDir, &name, stdout, stderr),
		newDownCmd(&runDir, stdout),
		newStatusCmd(&runDir, stdout),
		newKubeconfigCmd(&runDir, stdout),
		newExecCmd(&runDir, stdout, stderr),
		newFaultCmd(&runDir, stdout),
		newDaemonCmd(),
	)
	return root
}

func newUpCmd(runDir, name *string, stdout, stderr io.Writer) *cobra.Command {
	var o struct {
		nodes       int
		noNodeLocal bool
		network     string
		binDir      string
		netdoctor   string
		apiPort     int
		keep        bool
	}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the lab and print where its kubeconfig is",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			l, err := lab.Up(cmd.Context(), lab.Config{
				Name: *name, Nodes: o.nodes, NoNodeLocalDNS: o.noNodeLocal, Network: o.network, RunDir: *runDir,
				BinDir: o.binDir, Netdoctor: o.netdoctor, APIPort: o.apiPort, KeepOnFailure: o.keep,
				Logf: func(f string, a ...any) { fmt.Fprintf(stderr, "ndlab: "+f+"\n", a...) },
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "ndlab: up in %s\n", time.Since(start).Round(100*time.Millisecond))
			fmt.Fprintln(stdout, l.Kubeconfig())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "number of nodes")
	f.BoolVar(&o.noNodeLocal, "no-nodelocaldns", false, "do not run NodeLocal DNS")
	f.StringVar(&o.network, "network", "kubenet", "network plugin to emulate: kubenet or azure-cni")
	f.StringVar(&o.binDir, "bin-dir", "", "directory of the pinned binaries (default: newest complete cache of scripts/lab-build.sh)")
	f.StringVar(&o.netdoctor, "netdoctor", "", "netdoctor binary that pods of netdoctor images run")
	f.IntVar(&o.apiPort, "api-port", 0, "loopback port for the API server (default 16443; derived from --name)")
	f.BoolVar(&o.keep, "keep-on-failure", false, "leave a lab that failed to come up in place for debugging")
	return cmd
}

func newDownCmd(runDir *string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and remove every namespace, process and file it made",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.Down(cmd.Context(), *runDir); err != nil {
				return err
			}
			left := lab.Inspect(*runDir)
			if !left.Empty() {
				return fmt.Errorf("leftovers after down: %s", left)
			}
			fmt.Fprintln(stdout, "ndlab: down, nothing left")
			return nil
		},
	}
}

func newStatusCmd(runDir *string, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the lab runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Load(*runDir)
			if err != nil {
				left := lab.Inspect(*runDir)
				if !left.Empty() {
					fmt.Fprintf(stdout, "no lab state, but leftovers: %s (run ndlab down)\n", left)
				}
				return err
			}
			st, err := l.Status(cmd.Context())
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if e := enc.Encode(st); e != nil {
					return e
				}
				return err
			}
			fmt.Fprintf(stdout, "kubeconfig: %s\nazure:      %s\n", l.Kubeconfig(), l.AzureDir())
			for _, p := range st.Procs {
				state := "running"
				if !p.Alive {
					state = "DEAD"
				}
				fmt.Fprintf(stdout, "  %-26s pid %-7d %-8s %s\n", p.Name, p.PID, state, p.NetNS)
			}
			names := make([]string, 0, len(st.Nodes))
			for n := range st.Nodes {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(stdout, "node %s Ready=%s\n", n, st.Nodes[n])
			}
			fmt.Fprintf(stdout, "kube-dns endpoints: %s\n", strings.Join(st.KubeDNSEndpoints, " "))
			for _, f := range st.Faults {
				fmt.Fprintf(stdout, "fault %s on %s since %s\n", f.Name, f.Target, f.Since.Format(time.RFC3339))
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newKubeconfigCmd(runDir *string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the path of the lab's kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			l, err := lab.Load(*runDir)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, l.Kubeconfig())
			return nil
		},
	}
}

func newExecCmd(runDir *string, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "exec TARGET -- CMD [ARGS...]",
		Short: "Run a command in a node's or pod's network namespace (TARGET: node name or index, namespace/pod, cp, edge, inet, upstream, nva)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Load(*runDir)
			if err != nil {
				return err
			}
			err = l.ExecIO(cmd.Context(), args[0], args[1:], os.Stdin, stdout, stderr)
			var ee *lab.ExecError
			if errors.As(err, &ee) && ee.ExitCode > 0 {
				return exitError(ee.ExitCode)
			}
			return err
		},
	}
}

func newFaultCmd(runDir *string, stdout io.Writer) *cobra.Command {
	var o lab.FaultOptions
	cmd := &cobra.Command{
		Use:   "fault NAME",
		Short: "Inject a fault (ndlab fault list shows them; ndlab fault clear [NAME] removes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Load(*runDir)
			if err != nil {
				return err
			}
			fs, err := l.Fault(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "fault %s on: %s\n", fs.Name, fs.Target)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Node, "node", "", "node to hit (name, index or n0; default the last node)")
	f.StringVar(&o.Pod, "pod", "", "CoreDNS pod for dns-loss (default the first)")
	f.IntVar(&o.Port, "port", 0, "port for nsg-deny (default 80)")
	f.StringVar(&o.Protocol, "protocol", "", "protocol for nsg-deny (tcp or udp)")
	f.StringVar(&o.Dest, "dest", "", "prefix udr-blackhole drops (default 0.0.0.0/0)")
	f.IntVar(&o.Status, "status", 0, "HTTP status http-proxy-error answers (403, 502, 504)")
	f.Float64Var(&o.Probability, "probability", 0, "drop probability for dns-loss (default 0.3)")
	f.IntVar(&o.Ports, "ports", 0, "SNAT ports left by snat-exhaustion (default 8)")
	f.IntVar(&o.Connections, "connections", 0, "connections the load pod holds (max 256)")
	f.StringVar(&o.Reason, "reason", "", "lb-pending error: authorization-failed, public-ip-quota, subnet-not-found")
	cmd.AddCommand(&cobra.Command{
		Use:   "clear [NAME]",
		Short: "Clear one fault, or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Load(*runDir)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return l.ClearFault(cmd.Context(), name)
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List the faults",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			all := lab.FaultNames()
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(stdout, "%-22s %s\n", n, all[n])
			}
			return nil
		},
	})
	return cmd
}
