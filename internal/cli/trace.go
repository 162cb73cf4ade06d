package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTraceCmd is a placeholder until the command lands.
func newTraceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "trace",
		Short: "Trace a packet through kube-proxy's iptables rules",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("trace: not available in this build")
		},
	}
}
