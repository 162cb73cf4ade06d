package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDiagnoseCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "diagnose", RunE: func(cmd *cobra.Command, args []string) error { return errors.New("todo") }}
}
