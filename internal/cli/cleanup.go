package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/runner"
)

// newCleanupCmd is `netdoctor cleanup`: remove every pod, DaemonSet and
// namespace an earlier run left behind (by the managed-by label).
func newCleanupCmd(g *globals) *cobra.Command {
	var dryRun bool
	namespace := runner.DefaultNamespace
	cmd := &cobra.Command{
		Use:   "cleanup [--dry-run]",
		Short: "Remove anything an earlier netdoctor run left in the cluster",
		Long: `Remove every pod, DaemonSet and namespace labelled
app.kubernetes.io/managed-by=netdoctor, in every namespace. netdoctor deletes
what it creates on exit, on timeout and on Ctrl-C; this is for a run that was
killed outright or lost the API server. Pods of a netdoctor run still in
progress are removed too: use --dry-run to see what would go, and who made it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.kubeClient()
			if err != nil {
				return err
			}
			found, err := runner.CleanupWith(cmd.Context(), client, runner.CleanupOptions{DryRun: dryRun, Namespace: namespace})
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			for _, l := range found {
				owner := ""
				if l.Owner != "" {
					owner = " (created by " + l.Owner + ")"
				}
				fmt.Fprintf(g.streams.Out, "%s %s%s\n", verb, l, owner)
			}
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if len(found) == 0 {
				fmt.Fprintln(g.streams.Out, "nothing to clean up")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be removed")
	cmd.Flags().StringVar(&namespace, "agent-namespace", namespace, "where to look when listing in every namespace is not allowed")
	return cmd
}
