package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newSNATCmd is a placeholder until the command lands.
func newSNATCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "snat",
		Short: "Print the Azure load balancer SNAT capacity table and what-if",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("snat: not available in this build")
		},
	}
}
