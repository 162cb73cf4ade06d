package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDNSCmd is a placeholder until the command lands.
func newDNSCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dns",
		Short: "Probe DNS hop by hop from inside the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("dns: not available in this build")
		},
	}
}
