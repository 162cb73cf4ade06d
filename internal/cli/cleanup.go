package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCleanupCmd is a placeholder until the command lands.
func newCleanupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Remove anything an earlier netdoctor run left in the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("cleanup: not available in this build")
		},
	}
}
