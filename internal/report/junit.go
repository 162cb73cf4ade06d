package report

import (
	"encoding/xml"
	"io"
	"strings"

	"github.com/netdoctor/netdoctor/internal/finding"
)

// JUnit writes the report as JUnit XML, which CI systems (Azure DevOps'
// PublishTestResults, GitLab, Jenkins, GitHub test reporters) show as test
// results. There is one test suite per area (services, dns, kube-proxy,
// node, egress, azure), in the order the checks ran. In it each finding is
// a test case named after its code and subjects: a failure when it is at or
// above Options.FailOn (as it makes diagnose exit 1), a pass carrying its
// text otherwise, so that the failures agree with the exit status. Each
// check is a test case too: passed, skipped or error with its reason. A
// failed check is shown by its findings (which may be in another area: a
// kube-proxy REJECT is evidence of the Service finding that explains it), so
// its own case only says so.
func JUnit(w io.Writer, r finding.Report, o Options) error {
	type area struct{ suite junitSuite }
	var (
		areas []*area
		byKey = map[string]*area{}
	)
	get := func(name string) *area {
		if a := byKey[name]; a != nil {
			return a
		}
		a := &area{suite: junitSuite{Name: "netdoctor." + name}}
		byKey[name] = a
		areas = append(areas, a)
		return a
	}
	for _, c := range r.Checks {
		get(checkArea(c.Name))
	}
	for _, f := range r.Findings {
		name := "other"
		if e, err := finding.Lookup(f.Code); err == nil {
			name = e.Area
		}
		a := get(name)
		tc := junitCase{Class: a.suite.Name, Name: findingName(f)}
		text := findingText(f)
		if o.FailOn != "" && f.Severity.Rank() >= o.FailOn.Rank() {
			tc.Failure = &junitResult{Type: string(f.Severity), Message: f.Title, Text: text}
			a.suite.Failures++
		} else {
			tc.SystemOut = text
		}
		a.suite.Cases = append(a.suite.Cases, tc)
	}
	for _, c := range r.Checks {
		a := get(checkArea(c.Name))
		tc := junitCase{Class: a.suite.Name, Name: "check " + c.Name}
		res := &junitResult{Message: c.Reason}
		switch c.Status {
		case finding.Passed:
			tc.SystemOut = c.Reason
		case finding.Skipped:
			tc.Skipped = res
			a.suite.Skipped++
		case finding.Error:
			tc.Error = res
			a.suite.Errors++
		case finding.Failed:
			tc.SystemOut = "failed: " + c.Reason + " (see the findings)"
		}
		a.suite.Cases = append(a.suite.Cases, tc)
	}
	out := junitSuites{Name: "netdoctor"}
	for _, a := range areas {
		a.suite.Tests = len(a.suite.Cases)
		out.Tests += a.suite.Tests
		out.Failures += a.suite.Failures
		out.Errors += a.suite.Errors
		out.Skipped += a.suite.Skipped
		out.Suites = append(out.Suites, a.suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// checkArea is the area of a check: the part of its name before "/".
func checkArea(name string) string {
	area, _, _ := strings.Cut(name, "/")
	return area
}

func findingName(f finding.Finding) string {
	var subjects []string
	for _, s := range f.Subjects {
		subjects = append(subjects, s.String())
	}
	if len(subjects) == 0 {
		return f.Code
	}
	return f.Code + " " + strings.Join(subjects, ", ")
}

// findingText is a finding as the text output shows it, without colour.
func findingText(f finding.Finding) string {
	var b strings.Builder
	tw := &errWriter{w: &b}
	writeFinding(tw, f, false)
	return b.String()
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class     string       `xml:"classname,attr"`
	Name      string       `xml:"name,attr"`
	Failure   *junitResult `xml:"failure,omitempty"`
	Error     *junitResult `xml:"error,omitempty"`
	Skipped   *junitResult `xml:"skipped,omitempty"`
	SystemOut string       `xml:"system-out,omitempty"`
}

type junitResult struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr,omitempty"`
	Text    string `xml:",chardata"`
}
