//go:build e2e

package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// The egress probe tests run `netdoctor probe` from a node (hostNetwork
// agent pod), a pod on that node, and the lab's internet namespace standing
// outside the cluster (--outside-netns, never this machine's namespace),
// then diagnose a bundle holding the probe file and say which egress codes
// come out.

// outsideNetns is the lab's "internet" namespace, the outside vantage point.
const outsideNetns = lab.NSInternet

// probeRun runs `netdoctor probe ARGS -o json` and decodes the file.
func probeRun(t *testing.T, args ...string) (probe.File, []byte, int) {
	t.Helper()
	// An agent namespace of its own per run: the runner removes the
	// namespace it created, and a namespace still terminating refuses pods.
	args = append(args, "-o", "json", "--agent-namespace", uniqueName("nd-e2e-egress-"))
	res := runNetdoctor(t, 4*time.Minute, append([]string{"probe"}, args...)...)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("netdoctor probe %v: exit %d\nstderr: %s\nstdout: %s", args, res.ExitCode, res.Stderr, res.Stdout)
	}
	var f probe.File
	if err := json.Unmarshal([]byte(res.Stdout), &f); err != nil {
		t.Fatalf("probe output is not JSON: %v\n%s", err, res.Stdout)
	}
	if len(f.Runs) != 1 {
		t.Fatalf("probe runs = %d, want 1", len(f.Runs))
	}
	for _, l := range f.Runs[0].Legs {
		if l.Error != "" {
			t.Errorf("leg %s did not run cleanly: %s", l.Label(), l.Error)
		}
	}
	t.Logf("probe %v: %s: %s", args, f.Runs[0].Conclusion.Locus, f.Runs[0].Conclusion.Summary)
	return f, []byte(res.Stdout), res.ExitCode
}

// diagnoseWithProbes collects a bundle (with node data when asked), adds
// the probe file at probes/egress.json and returns the egress findings of
// diagnose --bundle.
func diagnoseWithProbes(t *testing.T, probeJSON []byte, nodeData bool) []finding.Finding {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	args := []string{"collect", "-o", dir, "--agent-namespace", uniqueName("nd-e2e-collect-")}
	if nodeData {
		args = append(args, "--node-data")
	}
	if res := runNetdoctor(t, 4*time.Minute, args...); res.ExitCode != 0 {
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
		t.Fatalf("diagnose: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
	}
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "egress/") && (c.Status == finding.Skipped || c.Status == finding.Error) {
			t.Errorf("check %s %s: %s", c.Name, c.Status, c.Reason)
		}
	}
	var out []finding.Finding
	for _, f := range rep.Findings {
		if f.Code == "EGR004" || f.Code == "EGR006" || f.Code == "EGR007" {
			out = append(out, f)
		}
	}
	return out
}

func codes(fs []finding.Finding) string {
	var c []string
	for _, f := range fs {
		c = append(c, f.Code)
	}
	return strings.Join(c, " ")
}

func TestEgressProbeHealthy(t *testing.T) {
	l := requireLab(t)
	lockFaults(t) // a healthy lab: no other test's fault active
	node := l.Nodes()[0].Name
	target := net.JoinHostPort(lab.WebIP, "7")
	f, raw, code := probeRun(t, target, "--udp", "--http", "http://"+lab.WebIP+"/", "--path",
		"--node", node, "--outside-netns", outsideNetns, "--count", "5", "--interval", "20ms", "--probe-timeout", "2s")
	run := f.Runs[0]
	if run.Conclusion.Locus != probe.LocusNone || code != 0 {
		t.Errorf("locus %s (exit %d): %s, want none", run.Conclusion.Locus, code, run.Conclusion.Summary)
	}
	places := map[probe.Place]bool{}
	for _, leg := range run.Legs {
		places[leg.Place] = true
		for _, s := range leg.Series {
			if s.Verdict != probe.VerdictOK {
				t.Errorf("%s: %s %s: %s", leg.Label(), s.Spec.Kind, s.Spec.Target, s.Summary())
			}
			if s.Path != nil && (!s.Path.Reached || len(s.Path.Hops) < 2 && leg.Place != probe.PlaceOutside) {
				t.Errorf("%s: path %+v, want the destination reached through at least the edge", leg.Label(), s.Path)
			}
		}
	}
	for _, p := range []probe.Place{probe.PlaceOutside, probe.PlaceNode, probe.PlacePod} {
		if !places[p] {
			t.Errorf("no %s leg", p)
		}
	}
	if got := diagnoseWithProbes(t, raw, false); len(got) != 0 {
		t.Errorf("healthy lab: egress findings %s, want none: %+v", codes(got), got)
	}
}

func TestEgressProbeRemoteDown(t *testing.T) {
	requireLab(t)
	withFault(t, "remote-down", lab.FaultOptions{})
	target := net.JoinHostPort(lab.RemoteIP, "7")
	f, raw, code := probeRun(t, target, "--outside-netns", outsideNetns, "--count", "3", "--interval", "20ms", "--probe-timeout", "1s")
	run := f.Runs[0]
	if run.Conclusion.Locus != probe.LocusRemote || code != 1 {
		t.Errorf("locus %s (exit %d): %s, want remote", run.Conclusion.Locus, code, run.Conclusion.Summary)
	}
	for _, leg := range run.Legs {
		if st := leg.State(); st.Verdict != probe.VerdictPersistent || st.Dominant != probe.Timeout {
			t.Errorf("%s: %s %s, want persistent timeout (the remote host drops everything)", leg.Label(), st.Verdict, st.Dominant)
		}
	}
	got := diagnoseWithProbes(t, raw, false)
	if codes(got) != "EGR006" {
		t.Fatalf("findings %q, want EGR006", codes(got))
	}
	if got[0].Subjects[0].Name != target {
		t.Errorf("EGR006 subject %v, want %s", got[0].Subjects, target)
	}
}

func TestEgressProbeHTTPProxyError(t *testing.T) {
	l := requireLab(t)
	for _, status := range []int{403, 502} {
		t.Run(statusName(status), func(t *testing.T) {
			withFault(t, "http-proxy-error", lab.FaultOptions{Status: status})
			node := l.Nodes()[0].Name
			url := "http://" + lab.WebIP + "/"
			f, raw, _ := probeRun(t, net.JoinHostPort(lab.WebIP, "80"), "--http", url, "--node", node,
				"--outside-netns", outsideNetns, "--count", "3", "--interval", "20ms", "--probe-timeout", "3s")
			run := f.Runs[0]
			if run.Conclusion.Locus != probe.LocusHTTP {
				t.Errorf("locus %s: %s, want http", run.Conclusion.Locus, run.Conclusion.Summary)
			}
			for _, leg := range run.Legs {
				for _, s := range leg.Series {
					if s.Spec.Kind != probe.KindHTTP {
						continue
					}
					want := probe.HTTPStatus
					if leg.Place == probe.PlaceOutside {
						want = "" // the outside reaches the web host directly
					}
					if s.Dominant != want {
						t.Errorf("%s: http %s, want dominant %q", leg.Label(), s.Summary(), want)
					}
					if want != "" && s.Observations[0].HTTP.Status != status {
						t.Errorf("%s: status %d, want %d", leg.Label(), s.Observations[0].HTTP.Status, status)
					}
					if want != "" && status == 502 && !s.Observations[0].HTTP.FromGateway {
						t.Errorf("%s: 502 not marked as from a gateway", leg.Label())
					}
				}
			}
			got := diagnoseWithProbes(t, raw, false)
			if codes(got) != "EGR007" {
				t.Fatalf("findings %q, want EGR007", codes(got))
			}
			if ex := got[0].Explanation; !strings.Contains(ex, statusName(status)) {
				t.Errorf("EGR007 explanation does not say what %d means: %s", status, ex)
			}
		})
	}
}

func statusName(status int) string {
	return map[int]string{403: "403", 502: "502", 504: "504"}[status]
}

func TestEgressProbeEphemeralPorts(t *testing.T) {
	requireLab(t)
	fs := withFault(t, "ephemeral-ports", lab.FaultOptions{})
	node := fs.Target
	target := net.JoinHostPort(lab.WebIP, "7")
	f, raw, _ := probeRun(t, target, "--udp", "--icmp=false", "--node", node, "--outside-netns", outsideNetns,
		"--count", "40", "--interval", "10ms", "--probe-timeout", "1s")
	run := f.Runs[0]
	for _, leg := range run.Legs {
		if leg.Place == probe.PlaceOutside {
			continue
		}
		if len(leg.Comparisons) != 1 || !leg.Comparisons[0].TCPOnly || leg.Comparisons[0].TCP != probe.VerdictIntermittent {
			t.Errorf("%s: comparisons %+v, want TCP intermittent while UDP works", leg.Label(), leg.Comparisons)
		}
	}
	got := diagnoseWithProbes(t, raw, true)
	if codes(got) != "EGR004" {
		t.Fatalf("findings %q, want EGR004", codes(got))
	}
	f4 := got[0]
	if f4.Severity != finding.Critical || f4.Subjects[0] != (finding.Subject{Kind: "Node", Name: node}) {
		t.Errorf("EGR004 %s about %v, want critical about Node/%s", f4.Severity, f4.Subjects, node)
	}
	ev := strings.Join(f4.Evidence, "\n")
	if !strings.Contains(ev, "1024-32767") || !strings.Contains(ev, "32768-65535") {
		t.Errorf("EGR004 evidence does not name the ports outside the firewall's range:\n%s", ev)
	}
}

// TestEgressDiagnoseProbeEphemeralPorts runs the whole pipeline in one
// command: diagnose --node-data --probe --probe-egress collects the node's
// port range, probes TCP and UDP from a node and a pod, and names EGR004.
func TestEgressDiagnoseProbeEphemeralPorts(t *testing.T) {
	l := requireLab(t)
	node := egressProbeNode(t, l)
	withFault(t, "ephemeral-ports", lab.FaultOptions{Node: node})
	res := runNetdoctor(t, 5*time.Minute, "diagnose", "--node-data", "--probe",
		"--probe-egress", net.JoinHostPort(lab.WebIP, "7"), "--probe-egress-udp", "--probe-egress-count", "20",
		"--agent-namespace", uniqueName("nd-e2e-diag-"), "-o", "json")
	if res.ExitCode != 1 {
		t.Fatalf("diagnose: exit %d, want 1 (findings)\nstderr: %s", res.ExitCode, res.Stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("diagnose output is not JSON: %v\n%s", err, res.Stdout)
	}
	var got []finding.Finding
	for _, f := range rep.Findings {
		if f.Code == "EGR004" {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Subjects[0].Name != node {
		t.Fatalf("EGR004 findings %+v, want one about node %s", got, node)
	}
	if ev := strings.Join(got[0].Evidence, "\n"); !strings.Contains(ev, "1024-32767") {
		t.Errorf("EGR004 evidence does not name the ports outside the firewall's range:\n%s", ev)
	}
}

// egressProbeNode is the node diagnose --probe runs its egress probe on: the
// first ready node, by name, without a CoreDNS pod (or the first ready one).
func egressProbeNode(t *testing.T, l *lab.Lab) string {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	pods, err := l.Client().CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	core := map[string]bool{}
	for _, p := range pods.Items {
		core[p.Spec.NodeName] = true
	}
	var names []string
	for _, n := range l.Nodes() {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		if !core[n] {
			return n
		}
	}
	return names[0]
}

// TestEgressProbeAllNodesNamesTheNode probes from every node and a pod on
// each while one node has the ephemeral-port fault: the others work, so the
// fault is that node's.
func TestEgressProbeAllNodesNamesTheNode(t *testing.T) {
	l := requireLab(t)
	if len(l.Nodes()) < 2 {
		t.Skip("needs at least two nodes")
	}
	fs := withFault(t, "ephemeral-ports", lab.FaultOptions{})
	f, _, code := probeRun(t, net.JoinHostPort(lab.WebIP, "7"), "--icmp=false", "--all-nodes",
		"--count", "30", "--interval", "10ms", "--probe-timeout", "1s")
	c := f.Runs[0].Conclusion
	if c.Locus != probe.LocusNode || len(c.FailingNodes) != 1 || c.FailingNodes[0] != fs.Target || code != 1 {
		t.Errorf("conclusion %s %v (exit %d): %s; want node [%s]", c.Locus, c.FailingNodes, code, c.Summary, fs.Target)
	}
	if got, want := len(f.Runs[0].Legs), 2*len(l.Nodes()); got != want {
		t.Errorf("legs = %d, want %d (a node and a pod leg per node)", got, want)
	}
}
