//go:build e2e

package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// The Azure outbound-path tests give diagnose the lab's az-shaped JSON
// (--azure-dir, the lab's run dir azure/ folder, rewritten by every fault
// with an Azure face) and, where the cause shows in the nodes' connection
// tables, node data (--node-data). They assert that the right code names
// the right node, route or rule.

var azureCodes = map[string]bool{"EGR001": true, "EGR002": true, "EGR003": true, "EGR005": true}

// diagnoseAzure runs a live diagnose of the lab with its Azure JSON.
func diagnoseAzure(t *testing.T, nodeData bool) finding.Report {
	t.Helper()
	l := requireLab(t)
	args := []string{"diagnose", "--azure-dir", l.AzureDir(), "-o", "json"}
	if nodeData {
		args = append(args, "--node-data")
	}
	res := runNetdoctor(t, 4*time.Minute, args...)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("netdoctor %v: exit %d\nstderr: %s", args, res.ExitCode, res.Stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
	}
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "azure/") {
			t.Logf("check %s %s: %s", c.Name, c.Status, c.Reason)
		}
		if c.Name == "azure/data" && c.Status != finding.Passed {
			t.Errorf("check azure/data %s: %s", c.Status, c.Reason)
		}
	}
	return rep
}

// azureFindings returns the findings of code, logging every Azure one.
func azureFindings(t *testing.T, rep finding.Report, code string) []finding.Finding {
	t.Helper()
	var out []finding.Finding
	for _, f := range rep.Findings {
		if azureCodes[f.Code] {
			t.Logf("%s %s: %s\n  evidence: %s\n  remediation: %s", f.Severity, f.Code, f.Title, strings.Join(f.Evidence, "\n    "), strings.Join(f.Remediation, "\n    "))
		}
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

func azureCheck(rep finding.Report, name string) finding.Status {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

func azureHasSubject(f finding.Finding, kind, name string) bool {
	for _, s := range f.Subjects {
		if s.Kind == kind && s.Name == name {
			return true
		}
	}
	return false
}

func azureText(f finding.Finding) string {
	return f.Title + "\n" + strings.Join(f.Evidence, "\n") + "\n" + strings.Join(f.Remediation, "\n")
}

func TestAzureHealthyLab(t *testing.T) {
	requireLab(t)
	lockFaults(t) // no other test's fault while we look
	rep := diagnoseAzure(t, true)
	for _, f := range rep.Findings {
		if azureCodes[f.Code] {
			t.Errorf("healthy lab: %s %s: %s\n%s", f.Severity, f.Code, f.Title, strings.Join(f.Evidence, "\n"))
		}
	}
	for _, c := range []string{"azure/snat", "azure/nsg", "azure/udr"} {
		if got := azureCheck(rep, c); got != finding.Passed {
			t.Errorf("healthy lab: check %s is %q, want passed", c, got)
		}
	}
	if got := azureCheck(rep, "azure/nat-gateway"); got != finding.Skipped {
		t.Errorf("healthy lab: check azure/nat-gateway is %q, want skipped (outbound type loadBalancer)", got)
	}
}

func TestAzureSNATExhaustion(t *testing.T) {
	fs := withFault(t, "snat-exhaustion", lab.FaultOptions{})
	rep := diagnoseAzure(t, true)
	got := azureFindings(t, rep, "EGR001")
	if len(got) != 1 {
		t.Fatalf("got %d EGR001 findings, want 1", len(got))
	}
	f := got[0]
	if f.Severity != finding.Critical || !azureHasSubject(f, "Node", fs.Target) {
		t.Errorf("EGR001 %s %q with subjects %v: want critical, naming node %s", f.Severity, f.Title, f.Subjects, fs.Target)
	}
	for _, want := range []string{fs.Target, net.JoinHostPort(lab.WebIP, "7"), "of 8 SNAT ports", "--load-balancer-outbound-ports"} {
		if !strings.Contains(azureText(f), want) {
			t.Errorf("EGR001 should mention %q:\n%s", want, azureText(f))
		}
	}
	for _, s := range f.Subjects {
		if s.Kind == "Node" && s.Name != fs.Target {
			t.Errorf("EGR001 names node %s, which has no exhausted ports", s.Name)
		}
	}
	if got := azureCheck(rep, "azure/snat"); got != finding.Failed {
		t.Errorf("check azure/snat is %q, want failed", got)
	}
}

func TestAzureUDRBlackhole(t *testing.T) {
	l := requireLab(t)
	dest := lab.WebIP + "/32"
	withFault(t, "udr-blackhole", lab.FaultOptions{Dest: dest})
	// The symptom, and the evidence the nodes keep of it: connections from
	// a pod through the appliance stay in SYN_SENT (bounded: 3 attempts).
	from := clientPod(t, 0)
	addr := net.JoinHostPort(lab.WebIP, "80")
	ctx := ctxT(t, time.Minute)
	for i := range 3 {
		if err := tcpWorks(ctx, l, from, addr, 2*time.Second); err == nil {
			t.Fatalf("attempt %d: %s reachable through the NVA that should drop it", i, addr)
		}
	}
	rep := diagnoseAzure(t, true)
	got := azureFindings(t, rep, "EGR002")
	if len(got) != 1 {
		t.Fatalf("got %d EGR002 findings, want 1", len(got))
	}
	f := got[0]
	for _, want := range []string{
		"default-to-nva", lab.NVAIP, addr + ": ", // the route, the appliance, the stuck destination
		"--address-prefix " + lab.WebIP + "/32 --next-hop-type Internet", // seed 002's bypass test, printed
		"route delete", "netdoctor-bypass-test",
	} {
		if !strings.Contains(azureText(f), want) {
			t.Errorf("EGR002 should mention %q:\n%s", want, azureText(f))
		}
	}
	if got := azureCheck(rep, "azure/snat"); got != finding.Skipped {
		t.Errorf("check azure/snat is %q, want skipped (outbound type userDefinedRouting)", got)
	}

	// The same from a probe instead of node data: a bundle collected with
	// --azure-dir, plus the probe's observations.
	node := l.Nodes()[0].Name
	_, probeJSON, _ := probeRun(t, addr, "--node", node, "--outside-netns", outsideNetns, "--count", "3", "--interval", "200ms", "--probe-timeout", "2s", "--icmp=false")
	dir := filepath.Join(t.TempDir(), "bundle")
	if res := runNetdoctor(t, 4*time.Minute, "collect", "--azure-dir", l.AzureDir(), "-o", dir); res.ExitCode != 0 {
		t.Fatalf("collect: exit %d: %s", res.ExitCode, res.Stderr)
	}
	if err := os.MkdirAll(filepath.Join(dir, "probes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(probe.FilePath)), probeJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	res := runNetdoctor(t, 2*time.Minute, "diagnose", "--bundle", dir, "-o", "json")
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("diagnose --bundle: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var rep2 finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep2); err != nil {
		t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
	}
	got = azureFindings(t, rep2, "EGR002")
	if len(got) != 1 || !strings.Contains(azureText(got[0]), "probe from node "+node) {
		t.Fatalf("from the probe: got %d EGR002 findings (%v), want one citing the probe from node %s", len(got), got, node)
	}
}

func TestAzureNSGDeny(t *testing.T) {
	withFault(t, "nsg-deny", lab.FaultOptions{Port: 80, Protocol: "tcp"})
	rep := diagnoseAzure(t, false)
	got := azureFindings(t, rep, "EGR003")
	if len(got) != 1 {
		t.Fatalf("got %d EGR003 findings, want 1", len(got))
	}
	f := got[0]
	if f.Severity != finding.Critical {
		t.Errorf("EGR003 severity %s, want critical", f.Severity)
	}
	for _, want := range []string{"rule DenyOutbound-tcp-80 (priority 100)", "port 80", "az network nsg rule delete"} {
		if !strings.Contains(azureText(f), want) {
			t.Errorf("EGR003 should name %q:\n%s", want, azureText(f))
		}
	}
}
