package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newExplainCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "explain", RunE: func(cmd *cobra.Command, args []string) error { return errors.New("todo") }}
}
