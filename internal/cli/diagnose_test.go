package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

// run executes the command tree and returns stdout, stderr and exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewRootCommand("netdoctor", genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err != nil && !IsFindings(err) {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func bundleFrom(t *testing.T, yamlFile string) string {
	t.Helper()
	s, err := snapshottest.Load(yamlFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := s.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDiagnoseBundleJSONContract(t *testing.T) {
	b := bundleFrom(t, "../analyze/services/testdata/backends/not-ready.yaml")
	out, stderr, code := run(t, "diagnose", "--bundle", b, "-o", "json")
	if code != ExitFindings {
		t.Fatalf("exit code %d (stderr %q); want %d", code, stderr, ExitFindings)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if rep["schemaVersion"] != "netdoctor/v1" {
		t.Errorf("schemaVersion = %v; want netdoctor/v1", rep["schemaVersion"])
	}
	findings := rep["findings"].([]any)
	var codes []string
	for _, f := range findings {
		fm := f.(map[string]any)
		for _, k := range []string{"code", "severity", "title", "subjects", "evidence", "explanation", "remediation"} {
			if _, ok := fm[k]; !ok {
				t.Errorf("finding %v lacks %q", fm["code"], k)
			}
		}
		codes = append(codes, fm["code"].(string))
	}
	if !strings.Contains(strings.Join(codes, ","), "SVC002") {
		t.Errorf("codes %v; want SVC002", codes)
	}
	for _, c := range rep["checks"].([]any) {
		cm := c.(map[string]any)
		if cm["name"] == "" || cm["status"] == "" {
			t.Errorf("check %v lacks name or status", cm)
		}
	}
}

func TestDiagnoseFailOn(t *testing.T) {
	b := bundleFrom(t, "../analyze/dns/testdata/kubedns/one-crashlooping.yaml")
	// Only a warning: exit 0 at the default --fail-on critical, 1 at warning.
	if _, stderr, code := run(t, "diagnose", "--bundle", b); code != ExitOK {
		t.Errorf("default fail-on: exit %d (%s); want 0", code, stderr)
	}
	if _, stderr, code := run(t, "diagnose", "--bundle", b, "--fail-on", "warning"); code != ExitFindings {
		t.Errorf("--fail-on warning: exit %d (%s); want 1", code, stderr)
	}
	crit := bundleFrom(t, "../analyze/dns/testdata/kubedns/all-down.yaml")
	out, stderr, code := run(t, "diagnose", "--bundle", crit, "--fail-on", "none")
	if code != ExitOK || !strings.Contains(out, "DNS001") {
		t.Errorf("--fail-on none: exit %d (%s), output %q; want exit 0 and the report", code, stderr, out)
	}
}

func TestDiagnoseTextVerdictFirst(t *testing.T) {
	b := bundleFrom(t, "../analyze/services/testdata/backends/selector-typo.yaml")
	t.Setenv("NO_COLOR", "1")
	out, _, _ := run(t, "diagnose", "--bundle", b)
	first, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, "BROKEN: ") || !strings.Contains(first, " critical") {
		t.Errorf("first line %q; want the verdict with the critical findings", first)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour codes in output that is not a terminal")
	}
	for _, want := range []string{"SVC001 Service shop/web selects no pod", "evidence:", "fix:", "kubectl get pods -n shop --show-labels"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestDiagnoseMarkdown(t *testing.T) {
	b := bundleFrom(t, "../analyze/services/testdata/backends/selector-typo.yaml")
	out, _, _ := run(t, "diagnose", "--bundle", b, "-o", "markdown")
	if !strings.HasPrefix(out, "# netdoctor report") || !strings.Contains(out, "## [critical] SVC001") {
		t.Errorf("markdown output unexpected:\n%s", out)
	}
}

func TestUsageAndInputErrorsExit2(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"diagnose", "-o", "yaml", "--bundle", "x"}, "unknown output format"},
		{[]string{"diagnose", "--fail-on", "fatal", "--bundle", "x"}, "--fail-on"},
		{[]string{"diagnose", "--bundle", "/nonexistent"}, "/nonexistent"},
		{[]string{"diagnose", "--client-ip", "10.0.0.300", "--bundle", "x"}, `--client-ip "10.0.0.300"`},
		{[]string{"diagnose", "--client-ip", "2001:db8::1", "--bundle", "x"}, "want an IPv4 address"},
		{[]string{"explain", "NOPE001"}, "unknown finding code"},
		{[]string{"collect"}, "-o"},
		{[]string{"no-such-command"}, "unknown command"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, c.args...)
			if code != ExitError {
				t.Errorf("exit %d; want 2", code)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q; want it to contain %q", stderr, c.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	out, _, code := run(t, "explain", "lb001")
	if code != 0 || !strings.Contains(out, "LB001: LoadBalancer Service has no external IP") {
		t.Errorf("explain lb001: exit %d, output %q", code, out)
	}
}

func TestDiagnoseWithoutKubeconfigSaysSo(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HOME", t.TempDir())
	_, stderr, code := run(t, "diagnose")
	if code != ExitError || !strings.Contains(stderr, "no kubeconfig found") || !strings.Contains(stderr, "--bundle") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming --kubeconfig and --bundle", code, stderr)
	}
}
