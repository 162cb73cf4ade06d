package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newProbeCmd is a placeholder until the command lands.
func newProbeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "probe",
		Short: "Probe a target from the node, a pod and outside, and say where it fails",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("probe: not available in this build")
		},
	}
}
