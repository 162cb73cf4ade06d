// Package analyze runs netdoctor's analyzers over a snapshot. Analyzers are
// pure functions of the snapshot: no I/O and no clock (the snapshot's
// collection time stands in for now).
package analyze

import (
	"sort"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Analyzer turns a snapshot into findings and the checks it ran.
type Analyzer interface {
	// Name is the analyzer's kebab-case name, e.g. "services".
	Name() string
	// Analyze must not modify the snapshot, do I/O, or read the clock.
	Analyze(s *snapshot.Snapshot) finding.Result
}

// Func adapts a function to the Analyzer interface.
type Func struct {
	N string
	F func(s *snapshot.Snapshot) finding.Result
}

// Name implements Analyzer.
func (f Func) Name() string { return f.N }

// Analyze implements Analyzer.
func (f Func) Analyze(s *snapshot.Snapshot) finding.Result { return f.F(s) }

// Run runs every analyzer and returns the combined report, findings sorted
// by severity (most severe first), then code, then first subject.
func Run(s *snapshot.Snapshot, analyzers []Analyzer) finding.Report {
	var all finding.Result
	for _, a := range analyzers {
		all.Merge(a.Analyze(s))
	}
	all.Findings = correlate(all.Findings)
	Sort(all.Findings)
	sort.SliceStable(all.Checks, func(i, j int) bool { return all.Checks[i].Name < all.Checks[j].Name })
	if all.Findings == nil {
		all.Findings = []finding.Finding{}
	}
	if all.Checks == nil {
		all.Checks = []finding.Check{}
	}
	return finding.Report{SchemaVersion: finding.SchemaVersion, Findings: all.Findings, Checks: all.Checks}
}

// Sort orders findings by severity (most severe first), code, then subject.
func Sort(fs []finding.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return subjectKey(a) < subjectKey(b)
	})
}

func subjectKey(f finding.Finding) string {
	if len(f.Subjects) == 0 {
		return ""
	}
	return f.Subjects[0].String()
}
