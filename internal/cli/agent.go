package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/agent"
)

// newAgentCmd is `netdoctor agent`: the in-cluster side, run inside the
// agent pods the runner creates. It is hidden from help but documented in
// docs/agent.md.
func newAgentCmd(g *globals) *cobra.Command {
	var request string
	cmd := &cobra.Command{
		Use:   "agent [--request JSON]",
		Short: "Run netdoctor's in-cluster agent (used inside netdoctor's pods)",
		Long: `Run one agent request and print one JSON response line to stdout.

The request is {"kind": KIND, "spec": {...}}, from --request or stdin. Kinds: ` + strings.Join(agent.Kinds(agent.Handlers()), ", ") + `.
netdoctor runs this inside the pods it creates and reads the response from the
pod's log; see docs/agent.md.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := g.streams.In
			if cmd.Flags().Changed("request") {
				in = strings.NewReader(request)
			}
			return agent.Run(cmd.Context(), in, g.streams.Out)
		},
	}
	cmd.Flags().StringVar(&request, "request", "", "the request as JSON (default: read from stdin)")
	return cmd
}
