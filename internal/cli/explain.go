package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/finding"
)

type explainOptions struct {
	list   bool
	output string
}

func newExplainCmd(g *globals) *cobra.Command {
	o := &explainOptions{}
	cmd := &cobra.Command{
		Use:   "explain CODE",
		Short: "Explain a finding code: what it means and how to fix it",
		Example: `  netdoctor explain LB001
  netdoctor explain --list
  netdoctor explain --list -o markdown   # the catalogue, as in docs/findings.md`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.list && len(args) == 0 || !o.list && len(args) == 1 {
				return nil
			}
			return usageError("explain takes one finding code, or --list")
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			var codes []string
			for _, e := range finding.Catalogue() {
				codes = append(codes, e.Code+"\t"+e.Title)
			}
			return codes, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := g.streams.Out
			if o.list {
				if o.output == "markdown" {
					_, err := fmt.Fprint(w, finding.CatalogueMarkdown())
					return err
				}
				for _, e := range finding.Catalogue() {
					if _, err := fmt.Fprintf(w, "%-8s %-8s %s\n", e.Code, e.Severity, e.Title); err != nil {
						return err
					}
				}
				return nil
			}
			e, err := finding.Lookup(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			if o.output == "markdown" {
				_, err = fmt.Fprint(w, finding.EntryMarkdown(e))
				return err
			}
			_, err = fmt.Fprintf(w, "%s: %s\nseverity: %s\narea: %s\n\n%s\n\nfix: %s\n", e.Code, e.Title, e.Severity, e.Area, e.Meaning, e.Fix)
			if err == nil && len(e.Seeds) > 0 {
				_, err = fmt.Fprintf(w, "\nsee also: %s\n", strings.Join(e.Seeds, ", "))
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&o.list, "list", false, "list every finding code")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text|markdown")
	return cmd
}
