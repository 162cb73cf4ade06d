//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// shop is a namespace of real objects with the foundation's problems:
// a selector typo (SVC001), pods that never become ready (SVC002), a named
// targetPort nobody declares (SVC003), a LoadBalancer Service no cloud
// controller acts on (LB001), beside a healthy Service that must give nothing.
func createShop(t *testing.T, l *lab.Lab, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := l.Client()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	nodes := l.Nodes()
	pod := func(name string, labels map[string]string, node int, port corev1.ContainerPort, readyPort int32) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{NodeName: nodes[node%len(nodes)].Name, Containers: []corev1.Container{{
				Name: "app", Image: "contoso.azurecr.io/shop/" + name + ":1.0", Ports: []corev1.ContainerPort{port}}}},
		}
		if readyPort != 0 {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(readyPort)}},
				PeriodSeconds: 2,
			}
		}
		return p
	}
	http := corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}
	pods := []*corev1.Pod{
		pod("web-0", map[string]string{"app": "shop-web"}, 0, http, 0),
		pod("api-0", map[string]string{"app": "api"}, 1, http, 9999), // nothing listens on 9999: never ready
		pod("api-1", map[string]string{"app": "api"}, 2, http, 9999),
		pod("cart-0", map[string]string{"app": "cart"}, 1, http, 0),
		pod("ok-0", map[string]string{"app": "ok"}, 2, http, 0),
	}
	for _, p := range pods {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	svc := func(name string, sel map[string]string, target intstr.IntOrString, typ corev1.ServiceType) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
			Type: typ, Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: target}}}}
	}
	services := []*corev1.Service{
		svc("web", map[string]string{"app": "shopweb"}, intstr.FromString("http"), corev1.ServiceTypeClusterIP),
		svc("api", map[string]string{"app": "api"}, intstr.FromString("http"), corev1.ServiceTypeClusterIP),
		svc("cart", map[string]string{"app": "cart"}, intstr.FromString("web"), corev1.ServiceTypeClusterIP),
		svc("ok", map[string]string{"app": "ok"}, intstr.FromInt32(8080), corev1.ServiceTypeClusterIP),
		svc("storefront", map[string]string{"app": "ok"}, intstr.FromString("http"), corev1.ServiceTypeLoadBalancer),
	}
	for _, s := range services {
		if _, err := c.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create service %s: %v", s.Name, err)
		}
	}
	// Wait until the node agents run every pod (api-* stay not ready) and
	// the real EndpointSlice controller has written the healthy Service's
	// endpoint, so the snapshot is settled.
	eventually(t, 90*time.Second, "shop pods running and ok's endpoint ready", func() error {
		for _, p := range pods {
			got, err := c.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got.Status.Phase != corev1.PodRunning || got.Status.PodIP == "" {
				return fmt.Errorf("pod %s is %s", p.Name, got.Status.Phase)
			}
		}
		slices, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=ok"})
		if err != nil {
			return err
		}
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					return nil
				}
			}
		}
		return fmt.Errorf("service ok has no ready endpoint yet")
	})
}

func diagnoseReport(t *testing.T, args ...string) (finding.Report, NetdoctorResult) {
	t.Helper()
	res := runNetdoctor(t, 3*time.Minute, append([]string{"diagnose", "-o", "json"}, args...)...)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("diagnose %v: exit %d\nstderr: %s", args, res.ExitCode, res.Stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("diagnose %v -o json: %v\n%s", args, err, res.Stdout)
	}
	return rep, res
}

// keyFindings renders findings as "CODE kind/ns/name: title", sorted: what
// must be equal between a live diagnosis and one of a bundle.
func keyFindings(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		var subj []string
		for _, s := range f.Subjects {
			subj = append(subj, s.String())
		}
		out = append(out, fmt.Sprintf("%s %s: %s", f.Code, strings.Join(subj, ","), f.Title))
	}
	sort.Strings(out)
	return out
}

func findingFor(fs []finding.Finding, code, ns, name string) *finding.Finding {
	for i, f := range fs {
		if f.Code != code {
			continue
		}
		for _, s := range f.Subjects {
			if s.Namespace == ns && s.Name == name {
				return &fs[i]
			}
		}
	}
	return nil
}

func TestFoundationLiveBundleAndHealthy(t *testing.T) {
	l := requireLab(t)
	lockFaults(t) // no other test's fault may show up in these diagnoses
	ns := uniqueName("e2e-shop-")
	if os.Getenv("NETDOCTOR_EXAMPLE_OUT") != "" {
		ns = "shop" // the example bundle reads better with a plain name
	}
	createShop(t, l, ns)

	rep, res := diagnoseReport(t, "-n", ns)
	if res.ExitCode != 1 {
		t.Errorf("diagnose exit %d; want 1 (critical findings)", res.ExitCode)
	}
	wants := []struct{ code, name, evidence string }{
		{"SVC001", "web", "app=shop-web"},
		{"SVC002", "api", "readiness"},
		{"SVC003", "cart", `"web"`},
		{"LB001", "storefront", ""},
	}
	for _, w := range wants {
		f := findingFor(rep.Findings, w.code, ns, w.name)
		if f == nil {
			t.Errorf("no %s for Service %s/%s; findings: %v", w.code, ns, w.name, keyFindings(rep.Findings))
			continue
		}
		if w.evidence != "" && !strings.Contains(strings.Join(f.Evidence, "\n"), w.evidence) {
			t.Errorf("%s evidence %q; want it to mention %q", w.code, f.Evidence, w.evidence)
		}
	}
	for _, f := range rep.Findings {
		for _, s := range f.Subjects {
			if s.Namespace == ns && s.Name == "ok" {
				t.Errorf("healthy Service ok got %s: %s", f.Code, f.Title)
			}
		}
		if f.Code == "DNS001" {
			t.Errorf("healthy lab reports DNS001: %s %v", f.Title, f.Evidence)
		}
	}

	// collect + diagnose --bundle gives the same findings as live.
	bundle := filepath.Join(t.TempDir(), "shop.tar.gz")
	if res := runNetdoctor(t, 3*time.Minute, "collect", "-n", ns, "-o", bundle); res.ExitCode != 0 {
		t.Fatalf("collect: exit %d: %s", res.ExitCode, res.Stderr)
	}
	fromBundle, _ := diagnoseReport(t, "--bundle", bundle)
	live, _ := diagnoseReport(t, "-n", ns)
	if got, want := keyFindings(fromBundle.Findings), keyFindings(live.Findings); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("bundle findings differ from live:\nbundle:\n%s\nlive:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// -o junit agrees with the findings and the exit status.
	ju := runNetdoctor(t, 3*time.Minute, "diagnose", "--bundle", bundle, "-o", "junit")
	var suites struct {
		Failures int `xml:"failures,attr"`
		Tests    int `xml:"tests,attr"`
	}
	if err := xml.Unmarshal([]byte(ju.Stdout), &suites); err != nil {
		t.Errorf("diagnose -o junit: not XML: %v\n%s", err, ju.Stdout)
	}
	critical := 0
	for _, f := range fromBundle.Findings {
		if f.Severity == finding.Critical {
			critical++
		}
	}
	if ju.ExitCode != 1 || suites.Failures != critical || suites.Tests != len(fromBundle.Findings)+len(fromBundle.Checks) {
		t.Errorf("diagnose -o junit: exit %d, %d failures of %d tests; want exit 1, the %d critical findings failing, one test per finding and check", ju.ExitCode, suites.Failures, suites.Tests, critical)
	}
	if out := os.Getenv("NETDOCTOR_EXAMPLE_OUT"); out != "" {
		writeExample(t, ns, out)
	}

	// A healthy namespace (the lab's default: only the suite's own pods)
	// gives no findings.
	healthy := uniqueName("e2e-healthy-")
	if _, err := l.Client().CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: healthy}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = l.Client().CoreV1().Namespaces().Delete(context.Background(), healthy, metav1.DeleteOptions{})
	})
	createPod(t, withNamespace(serverPod("hello", l.Nodes()[0].Name, map[string]string{"app": "hello"}, 8080), healthy))
	if _, err := l.Client().CoreV1().Services(healthy).Create(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "hello"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hrep, hres := diagnoseReport(t, "-n", healthy)
	if len(hrep.Findings) != 0 || hres.ExitCode != 0 {
		t.Errorf("healthy namespace: exit %d, findings %v; want none", hres.ExitCode, keyFindings(hrep.Findings))
	}
}

func withNamespace(p *corev1.Pod, ns string) *corev1.Pod {
	p.Namespace = ns
	return p
}

// writeExample collects the scenario with node data and the lab's Azure
// files into the example bundle shipped in examples/.
func writeExample(t *testing.T, ns, out string) {
	t.Helper()
	l := requireLab(t)
	withFault(t, "lb-pending", lab.FaultOptions{Reason: "authorization-failed"})
	withFault(t, "kubenet-route-missing", lab.FaultOptions{Node: l.Nodes()[2].Name})
	time.Sleep(3 * time.Second)
	res := runNetdoctor(t, 5*time.Minute, "collect", "--node-data", "--azure-dir", l.AzureDir(), "-o", out)
	if res.ExitCode != 0 {
		t.Fatalf("collect example: exit %d: %s", res.ExitCode, res.Stderr)
	}
	t.Logf("example bundle written to %s", out)
}

// TestFoundationRBACLimited runs diagnose as a user that may not list
// events or read ConfigMaps: those checks say so, the rest still run.
func TestFoundationRBACLimited(t *testing.T) {
	l := requireLab(t)
	ctx := context.Background()
	c := l.Client()
	user := uniqueName("e2e-limited-")
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "pods", "services"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"apps"}, Resources: []string{"daemonsets", "deployments"}, Verbs: []string{"get", "list"}},
		},
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.RbacV1().ClusterRoleBindings().Delete(context.Background(), user, metav1.DeleteOptions{})
		_ = c.RbacV1().ClusterRoles().Delete(context.Background(), user, metav1.DeleteOptions{})
	})
	var rep finding.Report
	eventually(t, 30*time.Second, "RBAC for the limited user in effect", func() error {
		r, res := diagnoseReport(t, "--as", user)
		if strings.Contains(res.Stderr, "forbidden") && !strings.Contains(res.Stdout, "schemaVersion") {
			return fmt.Errorf("diagnose failed: %s", res.Stderr)
		}
		rep = r
		if _, ok := checkStatus(rep, "services/backends"); !ok {
			return fmt.Errorf("no services/backends check yet")
		}
		return nil
	})
	lb, ok := checkStatus(rep, "services/loadbalancers")
	if !ok {
		t.Fatalf("no services/loadbalancers check; checks: %v", rep.Checks)
	}
	if !strings.Contains(lb.Reason, "events") {
		t.Errorf("services/loadbalancers = %s %q; want it to say events could not be read", lb.Status, lb.Reason)
	}
	var skippedCorefile bool
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "dns/corefile") && (c.Status == finding.Skipped || c.Status == finding.Error) && strings.Contains(c.Reason, "forbidden") {
			skippedCorefile = true
		}
	}
	if !skippedCorefile {
		t.Errorf("no dns/corefile* check skipped for forbidden ConfigMaps; checks: %v", rep.Checks)
	}
	if st, ok := checkStatus(rep, "services/backends"); !ok || st.Status == finding.Skipped {
		t.Errorf("services/backends = %v; want it to run without events and ConfigMaps", st)
	}
}

// TestFoundationBadBundles: the binary exits 2 naming the file, never panics.
func TestFoundationBadBundles(t *testing.T) {
	requireLab(t)
	dir := t.TempDir()
	trunc := filepath.Join(dir, "truncated.tar.gz")
	if err := os.WriteFile(trunc, []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	noManifest := filepath.Join(dir, "empty")
	os.MkdirAll(noManifest, 0o755)
	for _, b := range []string{trunc, noManifest} {
		res := runNetdoctor(t, time.Minute, "diagnose", "--bundle", b)
		if res.ExitCode != 2 || !strings.Contains(res.Stderr, b) || strings.Contains(res.Stderr, "panic") {
			t.Errorf("diagnose --bundle %s: exit %d, stderr %q; want exit 2 naming the bundle", b, res.ExitCode, res.Stderr)
		}
	}
}
