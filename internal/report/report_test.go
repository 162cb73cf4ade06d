package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
)

func sampleReport() finding.Report {
	return finding.Report{
		SchemaVersion: finding.SchemaVersion,
		Findings: []finding.Finding{
			{Code: "DNS001", Severity: finding.Critical, Title: "Cluster DNS has no ready CoreDNS pod",
				Subjects: []finding.Subject{{Kind: "Service", Namespace: "kube-system", Name: "kube-dns"}},
				Evidence: []string{"pod coredns-a: crash looping"}, Explanation: "why", Remediation: []string{"kubectl -n kube-system get pods"}},
			{Code: "DNS007", Severity: finding.Info, Title: "ndots amplification"},
		},
		Checks: []finding.Check{{Name: "dns/kube-dns", Status: finding.Failed}, {Name: "azure/outbound", Status: finding.Skipped, Reason: "no Azure data"}, {Name: "services/backends", Status: finding.Passed}},
	}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name string
		r    finding.Report
		want string
	}{
		{"broken", sampleReport(), "BROKEN: DNS001: Cluster DNS has no ready CoreDNS pod (Service/kube-system/kube-dns) [1 critical, 1 info; 1 checks passed, 1 could not run]"},
		{"healthy", finding.Report{Checks: []finding.Check{{Name: "a", Status: finding.Passed}}}, "HEALTHY: no problems found (1 checks passed)"},
		{"warning only", finding.Report{Findings: []finding.Finding{{Code: "X001", Severity: finding.Warning, Title: "t"}}}, "DEGRADED: X001: t [1 warning; 0 checks passed]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Verdict(c.r); got != c.want {
				t.Errorf("Verdict = %q; want %q", got, c.want)
			}
		})
	}
}

func TestTextColourAndSkippedChecks(t *testing.T) {
	var plain, colour bytes.Buffer
	if err := Text(&plain, sampleReport(), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Text(&colour, sampleReport(), Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain output has ANSI escapes")
	}
	if !strings.Contains(colour.String(), "\x1b[31m") {
		t.Error("colour output lacks red for critical")
	}
	out := plain.String()
	if !strings.Contains(out, "skipped azure/outbound: no Azure data") {
		t.Errorf("skipped check and its reason not shown:\n%s", out)
	}
	if strings.Contains(out, "services/backends") {
		t.Errorf("passed check listed without --verbose:\n%s", out)
	}
	if strings.Index(out, "DNS001") > strings.Index(out, "DNS007") {
		t.Error("critical finding printed after info")
	}
}

func TestJSONNeverNull(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, finding.Report{Findings: []finding.Finding{{Code: "X001", Severity: finding.Info}}}, Options{}); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	f := m["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"subjects", "evidence", "remediation"} {
		if _, ok := f[k].([]any); !ok {
			t.Errorf("%s = %v; want an array, never null", k, f[k])
		}
	}
	if m["schemaVersion"] != "netdoctor/v1" {
		t.Errorf("schemaVersion = %v", m["schemaVersion"])
	}
	if _, ok := m["checks"].([]any); !ok {
		t.Errorf("checks = %v; want an array", m["checks"])
	}
}
