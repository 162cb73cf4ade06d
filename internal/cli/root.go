// Package cli implements netdoctor's commands. Each command is a constructor
// with its own options struct; nothing here calls os.Exit.
package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/version"
)

// Exit codes.
const (
	ExitOK       = 0 // nothing at or above --fail-on
	ExitFindings = 1 // a finding at or above --fail-on
	ExitError    = 2 // usage or runtime error
)

// ExitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errFindings is returned when findings at or above --fail-on were reported.
var errFindings = errors.New("findings at or above the --fail-on severity")

// ExitCode maps an error returned by Execute to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, errFindings) {
		return ExitFindings
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError
}

// IsFindings reports whether err only signals findings (nothing to print).
func IsFindings(err error) bool { return errors.Is(err, errFindings) }

// globals are the flags every command shares.
type globals struct {
	streams       genericiooptions.IOStreams
	config        *genericclioptions.ConfigFlags
	allNamespaces bool
}

// NewRootCommand builds the netdoctor command tree. name is the binary name
// ("netdoctor" or "kubectl-netdoctor").
func NewRootCommand(name string, streams genericiooptions.IOStreams) *cobra.Command {
	g := &globals{streams: streams, config: genericclioptions.NewConfigFlags(true)}
	empty := ""
	g.config.Namespace = &empty // no kubeconfig default: every namespace unless -n is given
	use := name
	if name == "kubectl-netdoctor" {
		use = "kubectl netdoctor"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Diagnose Kubernetes networking problems and name the root cause",
		Long: `netdoctor diagnoses Kubernetes networking problems the way support engineers do
by hand: LoadBalancer Services without an external IP, DNS failing hop by hop,
egress timeouts (SNAT, UDR, NSG), kube-proxy's dataplane, and active probes from
the node and the pod. Each finding names the cause, the evidence and the fix.`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetVersionTemplate(fmt.Sprintf("%s version {{.Version}}\n", name))
	g.config.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVarP(&g.allNamespaces, "all-namespaces", "A", false, "look at every namespace (the default when -n is not given)")
	cmd.AddCommand(
		newDiagnoseCmd(g),
		newCollectCmd(g),
		newExplainCmd(g),
		newTraceCmd(g),
		newAgentCmd(g),
		newCleanupCmd(g),
		newDNSCmd(g),
		newProbeCmd(g),
		newSNATCmd(g),
		newVersionCmd(g),
	)
	return cmd
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print netdoctor's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(g.streams.Out, version.String())
			return err
		},
	}
}

// usageError wraps a usage mistake (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: ExitError, err: fmt.Errorf(format, args...)}
}
