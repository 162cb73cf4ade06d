package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newAgentCmd is a placeholder until the command lands.
func newAgentCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "agent",
		Short: "Run netdoctor's in-cluster agent (used inside pods)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("agent: not available in this build")
		},
	}
}
