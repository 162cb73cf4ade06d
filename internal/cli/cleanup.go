package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/runner"
)

// newCleanupCmd is `netdoctor cleanup`: remove every pod, DaemonSet and
// namespace an earlier run left behind (by the managed-by label).
func newCleanupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Remove anything an earlier netdoctor run left in the cluster",
		Long: `Remove every pod, DaemonSet and namespace labelled
app.kubernetes.io/managed-by=netdoctor, in every namespace. netdoctor deletes
what it creates on exit, on timeout and on Ctrl-C; this is for a run that was
killed outright or lost the API server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := kubeClient(g)
			if err != nil {
				return err
			}
			removed, err := runner.Cleanup(cmd.Context(), client)
			for _, r := range removed {
				fmt.Fprintf(g.streams.Out, "deleted %s\n", r)
			}
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if len(removed) == 0 {
				fmt.Fprintln(g.streams.Out, "nothing to clean up")
			}
			return nil
		},
	}
}
