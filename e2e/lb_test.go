//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// LB001 against the lab. The lab has no cloud provider: its real
// kube-controller-manager runs no service controller, so a LoadBalancer
// Service gets no event at all. The lb-pending fault creates Service
// default/ndlab-lb with the events cloud-provider-azure's service controller
// writes when ensuring fails, one Azure error per --reason.

// diagnoseLB runs `netdoctor diagnose -o json` (or on a bundle) and returns
// the report, failing on exit codes other than 0 and 1.
func diagnoseLB(t *testing.T, args ...string) (finding.Report, int) {
	t.Helper()
	args = append([]string{"diagnose", "-o", "json"}, args...)
	res := runNetdoctor(t, 3*time.Minute, args...)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("netdoctor %v: exit %d\nstderr: %s", args, res.ExitCode, res.Stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("netdoctor %v: output is not JSON: %v\n%s", args, err, res.Stdout)
	}
	return rep, res.ExitCode
}

// lbFinding returns the LB001 finding about Service ns/name, if any.
func lbFinding(rep finding.Report, ns, name string) (finding.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Code == "LB001" && hasSubject(f, "Service", ns, name) {
			return f, true
		}
	}
	return finding.Finding{}, false
}

func TestLB001LBPending(t *testing.T) {
	tests := []struct {
		reason    string
		wantTitle string
		want      []string // in evidence, explanation or remediation
	}{
		{"authorization-failed", "the cluster identity lacks permission on a network resource", []string{
			"Warning SyncLoadBalancerFailed x4",
			"Azure error code AuthorizationFailed (HTTP 403)",
			"Microsoft.Network/publicIPAddresses/write",
			`az role assignment create --assignee 7f3a2b1c-4d5e-4f60-8a9b-0c1d2e3f4a5b --role "Network Contributor" --scope /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_ndlab-rg_ndlab_westeurope/providers/Microsoft.Network/publicIPAddresses/kubernetes-a1b2c3d4e5f60718293a4b5c6d7e8f90`,
		}},
		{"public-ip-quota", "an Azure quota or load balancer limit is reached", []string{
			"Azure error code PublicIPCountLimitReached (HTTP 400)",
			"az network list-usages",
		}},
		{"subnet-not-found", "the internal load balancer's subnet or private IP is invalid", []string{
			"annotation service.beta.kubernetes.io/azure-load-balancer-internal-subnet=ilb-subnet",
			"failed to get subnet: aks-vnet-12345678/ilb-subnet",
			"--vnet-name aks-vnet-12345678",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			requireLab(t)
			lockFaults(t)
			before, _ := diagnoseLB(t)
			if f, ok := lbFinding(before, "default", "ndlab-lb"); ok {
				t.Fatalf("before the fault: LB001 already reported: %s", f.Title)
			}
			withFault(t, "lb-pending", lab.FaultOptions{Reason: tt.reason})

			rep, code := diagnoseLB(t)
			if code != 1 {
				t.Errorf("exit code = %d, want 1 (a critical finding, --fail-on critical)", code)
			}
			f, ok := lbFinding(rep, "default", "ndlab-lb")
			if !ok {
				t.Fatalf("no LB001 for Service default/ndlab-lb; findings: %+v", rep.Findings)
			}
			t.Logf("%s %s\n  evidence:\n    %s\n  fix:\n    %s", f.Severity, f.Title, strings.Join(f.Evidence, "\n    "), strings.Join(f.Remediation, "\n    "))
			if f.Severity != finding.Critical {
				t.Errorf("severity = %s, want critical", f.Severity)
			}
			if !strings.Contains(f.Title, tt.wantTitle) {
				t.Errorf("title = %q, want it to name %q", f.Title, tt.wantTitle)
			}
			all := strings.Join(f.Evidence, "\n") + "\n" + f.Explanation + "\n" + strings.Join(f.Remediation, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("LB001 lacks %q:\n%s", w, all)
				}
			}
			if c, ok := checkStatus(rep, "services/loadbalancers"); !ok || c.Status != finding.Failed {
				t.Errorf("check services/loadbalancers = %+v, want failed", c)
			}

			if tt.reason != "authorization-failed" {
				return
			}
			// The same diagnosis from a collected bundle.
			dir := filepath.Join(t.TempDir(), "bundle")
			if res := runNetdoctor(t, 3*time.Minute, "collect", "-o", dir); res.ExitCode != 0 {
				t.Fatalf("collect: exit %d: %s", res.ExitCode, res.Stderr)
			}
			brep, _ := diagnoseLB(t, "--bundle", dir)
			bf, ok := lbFinding(brep, "default", "ndlab-lb")
			if !ok {
				t.Fatalf("diagnose --bundle: no LB001 for default/ndlab-lb")
			}
			if bf.Title != f.Title || bf.Severity != f.Severity || bf.Explanation != f.Explanation ||
				strings.Join(bf.Remediation, "\n") != strings.Join(f.Remediation, "\n") {
				t.Errorf("diagnose --bundle differs from live:\nlive:   %+v\nbundle: %+v", f, bf)
			}
		})
	}
}

// TestLB001NoCloudProvider creates a LoadBalancer Service in the lab, whose
// control plane has no cloud provider: nothing ever writes an event on it,
// and LB001 says no cloud controller acted on it (info while it is new).
func TestLB001NoCloudProvider(t *testing.T) {
	l := requireLab(t)
	lockFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := uniqueName("e2e-lb-")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := l.Client().CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = l.Client().CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
	})

	rep, _ := diagnoseLB(t)
	f, ok := lbFinding(rep, "default", name)
	if !ok {
		t.Fatalf("no LB001 for Service default/%s; findings: %+v", name, rep.Findings)
	}
	t.Logf("%s %s\n  evidence:\n    %s", f.Severity, f.Title, strings.Join(f.Evidence, "\n    "))
	if !strings.Contains(f.Title, "no cloud controller has acted on it") {
		t.Errorf("title = %q, want the no-controller cause", f.Title)
	}
	if f.Severity != finding.Info {
		t.Errorf("severity = %s, want info for a Service created seconds ago", f.Severity)
	}
	if ev := strings.Join(f.Evidence, "\n"); !strings.Contains(ev, "no events on the Service at all (events were collected)") {
		t.Errorf("evidence does not say there were no events:\n%s", ev)
	}
}
