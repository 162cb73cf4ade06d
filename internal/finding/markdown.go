package finding

import (
	"fmt"
	"strings"
)

// CatalogueMarkdown renders the whole catalogue as docs/findings.md.
func CatalogueMarkdown() string {
	var b strings.Builder
	b.WriteString("# Finding codes\n\n")
	b.WriteString("Generated from the code by `netdoctor explain --list -o markdown`; do not edit by hand (`make docs` regenerates it).\n\n")
	b.WriteString("| code | severity | area | title |\n| --- | --- | --- | --- |\n")
	all := Catalogue()
	for _, e := range all {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s |\n", e.Code, strings.ToLower(e.Code), e.Severity, e.Area, e.Title)
	}
	for _, e := range all {
		b.WriteString("\n")
		b.WriteString(EntryMarkdown(e))
	}
	return b.String()
}

// EntryMarkdown renders one catalogue entry.
func EntryMarkdown(e Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n**%s** (%s, %s)\n\n%s\n\n**Fix:** %s\n", e.Code, e.Title, e.Severity, e.Area, e.Meaning, e.Fix)
	if len(e.Seeds) > 0 {
		fmt.Fprintf(&b, "\nField guides: %s\n", strings.Join(e.Seeds, ", "))
	}
	return b.String()
}
