// Package finding defines what netdoctor reports: findings with stable codes,
// the checks that produced them, and the catalogue that explains every code.
//
// A Finding is a diagnosis (a code, a severity, the objects it is about, the
// evidence and the fix). A Check records that a piece of analysis ran, and
// whether it passed, failed, or could not run and why: "not checked" is never
// reported as "passed".
package finding

import "fmt"

// SchemaVersion is the version of the JSON output contract.
const SchemaVersion = "netdoctor/v1"

// Severity ranks a finding. The zero value is invalid.
type Severity string

// Severities, from least to most severe.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Rank orders severities: info 1, warning 2, critical 3, unknown 0.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// ParseSeverity parses a severity name as used by --fail-on.
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(s)
	if sev.Rank() == 0 {
		return "", fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
	}
	return sev, nil
}

// Subject is a Kubernetes (or cloud) object a finding is about.
type Subject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String renders the subject as kind/namespace/name.
func (s Subject) String() string {
	if s.Namespace == "" {
		return s.Kind + "/" + s.Name
	}
	return s.Kind + "/" + s.Namespace + "/" + s.Name
}

// Finding is one diagnosis. Code names a catalogue entry; Title, Explanation
// and Remediation are specific to this occurrence.
type Finding struct {
	Code        string    `json:"code"`
	Severity    Severity  `json:"severity"`
	Title       string    `json:"title"`
	Subjects    []Subject `json:"subjects"`
	Evidence    []string  `json:"evidence"`
	Explanation string    `json:"explanation"`
	Remediation []string  `json:"remediation"`
}

// Status is the outcome of a check.
type Status string

// Check statuses.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
	Error   Status = "error"
)

// Check records that a named piece of analysis ran (or could not).
// Name is kebab-case with a slash-separated area, e.g. "dns/kube-dns".
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Result is what an analyzer returns: its findings and the checks it ran.
type Result struct {
	Findings []Finding
	Checks   []Check
}

// Add appends a finding and returns the result for chaining.
func (r *Result) Add(f Finding) { r.Findings = append(r.Findings, f) }

// Check appends a check.
func (r *Result) Check(name string, status Status, reason string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Reason: reason})
}

// Merge appends another result's findings and checks.
func (r *Result) Merge(o Result) {
	r.Findings = append(r.Findings, o.Findings...)
	r.Checks = append(r.Checks, o.Checks...)
}

// Report is the complete output of a diagnosis, in the JSON contract's shape.
type Report struct {
	SchemaVersion string    `json:"schemaVersion"`
	Findings      []Finding `json:"findings"`
	Checks        []Check   `json:"checks"`
}

// Worst returns the highest severity among the findings, or "" when none.
func (r Report) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		if f.Severity.Rank() > w.Rank() {
			w = f.Severity
		}
	}
	return w
}
