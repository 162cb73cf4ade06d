// Package report renders a diagnosis (finding.Report) as text, JSON,
// Markdown or JUnit XML. Detection happens elsewhere; this package only formats.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/netdoctor/netdoctor/internal/finding"
)

// Options controls rendering.
type Options struct {
	// Color enables ANSI colour (text only).
	Color bool
	// Verbose lists every check, not only those that did not pass.
	Verbose bool
	// FailOn is the severity from which a finding fails (JUnit); empty
	// means none does.
	FailOn finding.Severity
}

// Renderer writes a report in one format.
type Renderer func(w io.Writer, r finding.Report, o Options) error

// Formats maps each -o value to its renderer.
var Formats = map[string]Renderer{
	"text":     Text,
	"json":     JSON,
	"markdown": Markdown,
	"junit":    JUnit,
}

// FormatNames lists the -o values, sorted.
func FormatNames() []string {
	names := make([]string, 0, len(Formats))
	for n := range Formats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// JSON writes the report in the netdoctor/v1 contract.
func JSON(w io.Writer, r finding.Report, _ Options) error {
	if r.SchemaVersion == "" {
		r.SchemaVersion = finding.SchemaVersion
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Subjects == nil {
			f.Subjects = []finding.Subject{}
		}
		if f.Evidence == nil {
			f.Evidence = []string{}
		}
		if f.Remediation == nil {
			f.Remediation = []string{}
		}
	}
	if r.Findings == nil {
		r.Findings = []finding.Finding{}
	}
	if r.Checks == nil {
		r.Checks = []finding.Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Verdict is the one-line summary that starts the text output.
func Verdict(r finding.Report) string {
	counts := map[finding.Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	checks := map[finding.Status]int{}
	for _, c := range r.Checks {
		checks[c.Status]++
	}
	checkText := fmt.Sprintf("%d checks passed", checks[finding.Passed])
	if n := checks[finding.Skipped] + checks[finding.Error]; n > 0 {
		checkText += fmt.Sprintf(", %d could not run", n)
	}
	if len(r.Findings) == 0 {
		if checks[finding.Skipped]+checks[finding.Error] > 0 {
			return fmt.Sprintf("NO PROBLEMS FOUND in what could be checked (%s: see below)", checkText)
		}
		return fmt.Sprintf("HEALTHY: no problems found (%s)", checkText)
	}
	top := r.Findings[0]
	for _, f := range r.Findings[1:] {
		if f.Severity.Rank() > top.Severity.Rank() {
			top = f
		}
	}
	label := map[finding.Severity]string{finding.Critical: "BROKEN", finding.Warning: "DEGRADED", finding.Info: "NOTES"}[top.Severity]
	var parts []string
	for _, s := range []finding.Severity{finding.Critical, finding.Warning, finding.Info} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	subj := ""
	if len(top.Subjects) > 0 {
		subj = " (" + top.Subjects[0].String() + ")"
	}
	return fmt.Sprintf("%s: %s: %s%s [%s; %s]", label, top.Code, top.Title, subj, strings.Join(parts, ", "), checkText)
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGreen  = "\x1b[32m"
	ansiDim    = "\x1b[2m"
)

func paint(on bool, code, s string) string {
	if !on {
		return s
	}
	return code + s + ansiReset
}

func severityColor(s finding.Severity) string {
	switch s {
	case finding.Critical:
		return ansiRed
	case finding.Warning:
		return ansiYellow
	}
	return ansiCyan
}

// Text writes the human report: the verdict, findings by severity with their
// evidence and fix, then checks that did not pass.
func Text(w io.Writer, r finding.Report, o Options) error {
	tw := &errWriter{w: w}
	v := Verdict(r)
	vc := ansiGreen
	if len(r.Findings) > 0 {
		vc = severityColor(r.Worst())
	}
	tw.printf("%s\n", paint(o.Color, ansiBold+vc, v))
	for _, f := range r.Findings {
		tw.printf("\n")
		writeFinding(tw, f, o.Color)
	}
	var notPassed []finding.Check
	for _, c := range r.Checks {
		if o.Verbose || c.Status != finding.Passed {
			notPassed = append(notPassed, c)
		}
	}
	if len(notPassed) > 0 {
		tw.printf("\nchecks:\n")
		for _, g := range groupChecks(notPassed) {
			line := fmt.Sprintf("  %-7s %s", g.status, strings.Join(g.names, ", "))
			if g.reason != "" {
				line += ": " + g.reason
			}
			tw.printf("%s\n", line)
		}
	}
	return tw.err
}

// writeFinding writes one finding as the text output shows it.
func writeFinding(tw *errWriter, f finding.Finding, color bool) {
	tw.printf("%s %s %s\n", paint(color, ansiBold+severityColor(f.Severity), strings.ToUpper(string(f.Severity))), paint(color, ansiBold, f.Code), f.Title)
	for _, s := range f.Subjects {
		tw.printf("  subject: %s\n", s)
	}
	if len(f.Evidence) > 0 {
		tw.printf("  evidence:\n")
		for _, e := range f.Evidence {
			tw.printf("    - %s\n", indentLines(e, "      "))
		}
	}
	if f.Explanation != "" {
		tw.printf("  why: %s\n", indentLines(f.Explanation, "    "))
	}
	if len(f.Remediation) > 0 {
		tw.printf("  fix:\n")
		for _, rm := range f.Remediation {
			tw.printf("    %s %s\n", paint(color, ansiDim, "$"), indentLines(rm, "      "))
		}
	}
}

// checkGroup is checks sharing a status and a reason, shown on one line.
type checkGroup struct {
	status finding.Status
	reason string
	names  []string
}

// groupChecks joins checks with the same status and reason (such as every
// Azure check skipped for want of Azure data), keeping first-seen order.
func groupChecks(cs []finding.Check) []*checkGroup {
	var out []*checkGroup
	byKey := map[string]*checkGroup{}
	for _, c := range cs {
		k := string(c.Status) + "\x00" + c.Reason
		g := byKey[k]
		if g == nil || c.Reason == "" {
			g = &checkGroup{status: c.Status, reason: c.Reason}
			byKey[k] = g
			out = append(out, g)
		}
		g.names = append(g.names, c.Name)
	}
	return out
}

// Markdown writes the report for a ticket or a pull request.
func Markdown(w io.Writer, r finding.Report, _ Options) error {
	tw := &errWriter{w: w}
	tw.printf("# netdoctor report\n\n**%s**\n", Verdict(r))
	for _, f := range r.Findings {
		tw.printf("\n## %s %s: %s\n\n", severityEmoji(f.Severity), f.Code, f.Title)
		if len(f.Subjects) > 0 {
			var ss []string
			for _, s := range f.Subjects {
				ss = append(ss, "`"+s.String()+"`")
			}
			tw.printf("Subjects: %s\n\n", strings.Join(ss, ", "))
		}
		if len(f.Evidence) > 0 {
			tw.printf("Evidence:\n\n")
			for _, e := range f.Evidence {
				tw.printf("- %s\n", strings.ReplaceAll(e, "\n", "\n  "))
			}
			tw.printf("\n")
		}
		if f.Explanation != "" {
			tw.printf("%s\n\n", f.Explanation)
		}
		if len(f.Remediation) > 0 {
			tw.printf("Fix:\n\n```sh\n%s\n```\n", strings.Join(f.Remediation, "\n"))
		}
	}
	if len(r.Checks) > 0 {
		tw.printf("\n## Checks\n\n| check | status | reason |\n| --- | --- | --- |\n")
		for _, c := range r.Checks {
			tw.printf("| %s | %s | %s |\n", c.Name, c.Status, strings.ReplaceAll(c.Reason, "|", "\\|"))
		}
	}
	return tw.err
}

func severityEmoji(s finding.Severity) string {
	return map[finding.Severity]string{finding.Critical: "[critical]", finding.Warning: "[warning]", finding.Info: "[info]"}[s]
}

func indentLines(s, indent string) string { return strings.ReplaceAll(s, "\n", "\n"+indent) }

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}
