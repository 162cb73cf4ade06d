package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
)

func TestJUnit(t *testing.T) {
	r := sampleReport()
	r.Findings[0].Evidence = append(r.Findings[0].Evidence, `message with <angle> & "quotes"`)
	r.Checks = append(r.Checks,
		finding.Check{Name: "node/conntrack", Status: finding.Failed, Reason: "its finding was folded into another"},
		finding.Check{Name: "node/routes", Status: finding.Error, Reason: "parse error"},
	)
	cases := []struct {
		failOn                           finding.Severity
		failures, errors, skipped, tests int
		failedCases                      []string
	}{
		{finding.Critical, 1, 1, 1, 7, []string{"DNS001 Service/kube-system/kube-dns"}},
		{finding.Info, 2, 1, 1, 7, []string{"DNS001 Service/kube-system/kube-dns", "DNS007"}},
		{"", 0, 1, 1, 7, nil},
	}
	for _, c := range cases {
		t.Run("fail on "+string(c.failOn), func(t *testing.T) {
			var buf bytes.Buffer
			if err := JUnit(&buf, r, Options{FailOn: c.failOn}); err != nil {
				t.Fatal(err)
			}
			var got junitSuites
			if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not XML: %v\n%s", err, buf.String())
			}
			if got.Tests != c.tests || got.Failures != c.failures || got.Errors != c.errors || got.Skipped != c.skipped {
				t.Errorf("totals tests %d failures %d errors %d skipped %d; want %d %d %d %d", got.Tests, got.Failures, got.Errors, got.Skipped, c.tests, c.failures, c.errors, c.skipped)
			}
			var failed []string
			sum := 0
			for _, s := range got.Suites {
				sum += s.Tests
				if !strings.HasPrefix(s.Name, "netdoctor.") || s.Tests != len(s.Cases) {
					t.Errorf("suite %s: %d tests, %d cases", s.Name, s.Tests, len(s.Cases))
				}
				for _, tc := range s.Cases {
					if tc.Failure != nil {
						failed = append(failed, tc.Name)
					}
				}
			}
			if sum != got.Tests {
				t.Errorf("suites hold %d tests; the total says %d", sum, got.Tests)
			}
			if strings.Join(failed, "|") != strings.Join(c.failedCases, "|") {
				t.Errorf("failed cases %q; want %q", failed, c.failedCases)
			}
			if !strings.Contains(buf.String(), "&lt;angle&gt; &amp;") {
				t.Errorf("evidence not escaped:\n%s", buf.String())
			}
		})
	}
}

// TestJUnitFailedCheckShownByItsFindings: dns/kube-dns failed; DNS001 is
// the failure, the check's own case points at the findings.
func TestJUnitFailedCheckShownByItsFindings(t *testing.T) {
	var buf bytes.Buffer
	if err := JUnit(&buf, sampleReport(), Options{FailOn: finding.Critical}); err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, s := range got.Suites {
		for _, tc := range s.Cases {
			if tc.Name == "check dns/kube-dns" && (tc.Failure != nil || !strings.Contains(tc.SystemOut, "see the findings")) {
				t.Errorf("check dns/kube-dns = %+v; want it to point at the findings", tc)
			}
			if tc.Name == "DNS001 Service/kube-system/kube-dns" && (tc.Failure == nil || !strings.Contains(tc.Failure.Text, "kubectl -n kube-system get pods")) {
				t.Errorf("DNS001 = %+v; want a failure with the fix", tc)
			}
		}
	}
}
