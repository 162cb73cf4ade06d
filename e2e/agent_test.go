//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/runner"
)

// agentSelector selects everything netdoctor creates.
const agentSelector = runner.LabelManagedBy + "=" + runner.ManagedByValue

// The lab is shared with other tests that run netdoctor too: count only
// what this file's runs created, by the owner annotation's pid.
var (
	myPIDsMu sync.Mutex
	myPIDs   = map[int]bool{}
)

var ownerPIDRE = regexp.MustCompile(`pid (\d+)$`)

func mine(meta metav1.ObjectMeta) bool {
	m := ownerPIDRE.FindStringSubmatch(meta.Annotations[runner.AnnotationOwner])
	if m == nil {
		return false
	}
	pid, _ := strconv.Atoi(m[1])
	myPIDsMu.Lock()
	defer myPIDsMu.Unlock()
	return myPIDs[pid]
}

// startND starts netdoctor against the lab and records its pid.
func startND(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, netdoctorBin(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+theLab.Kubeconfig())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start netdoctor %v: %v", args, err)
	}
	myPIDsMu.Lock()
	myPIDs[cmd.Process.Pid] = true
	myPIDsMu.Unlock()
	return cmd, &stdout, &stderr
}

// runND runs netdoctor to the end (killed after timeout).
func runND(t *testing.T, timeout time.Duration, args ...string) NetdoctorResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd, stdout, stderr := startND(t, ctx, args...)
	err := cmd.Wait()
	res := NetdoctorResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	default:
		t.Fatalf("netdoctor %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("netdoctor %v did not finish in %s; stderr: %s", args, timeout, res.Stderr)
	}
	return res
}

// countLeftovers counts the pods, DaemonSets and namespaces this file's
// netdoctor runs left.
func countLeftovers(ctx context.Context, l *lab.Lab) (pods, daemonsets, namespaces int, names []string, err error) {
	c := l.Client()
	ps, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
	if err != nil {
		return 0, 0, 0, nil, err
	}
	for _, p := range ps.Items {
		if mine(p.ObjectMeta) {
			pods++
			names = append(names, "pod/"+p.Namespace+"/"+p.Name)
		}
	}
	ds, err := c.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
	if err != nil {
		return 0, 0, 0, nil, err
	}
	for _, d := range ds.Items {
		if mine(d.ObjectMeta) {
			daemonsets++
			names = append(names, "daemonset/"+d.Namespace+"/"+d.Name)
		}
	}
	ns, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
	if err != nil {
		return 0, 0, 0, nil, err
	}
	for _, n := range ns.Items {
		if !mine(n.ObjectMeta) {
			continue
		}
		// a namespace another test's run still uses is that run's to remove
		if inUse, _ := c.CoreV1().Pods(n.Name).List(ctx, metav1.ListOptions{LabelSelector: agentSelector}); inUse != nil && len(inUse.Items) > 0 && n.DeletionTimestamp == nil {
			othersOnly := true
			for _, p := range inUse.Items {
				othersOnly = othersOnly && !mine(p.ObjectMeta)
			}
			if othersOnly {
				continue
			}
		}
		namespaces++
		names = append(names, "namespace/"+n.Name+" ("+string(n.Status.Phase)+")")
	}
	return pods, daemonsets, namespaces, names, nil
}

// requireNoLeftovers waits (namespaces take a moment to finalize) until
// this file's runs left nothing in the lab, and fails the test otherwise.
func requireNoLeftovers(t *testing.T, l *lab.Lab) {
	t.Helper()
	eventually(t, 90*time.Second, "no netdoctor pods, DaemonSets or namespaces left", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, d, n, names, err := countLeftovers(ctx, l)
		if err != nil {
			return err
		}
		if p+d+n > 0 {
			return fmt.Errorf("%d pods, %d daemonsets, %d namespaces: %s", p, d, n, strings.Join(names, ", "))
		}
		return nil
	})
}

// normalizeIptables drops what changes between two iptables-save runs of
// the same rules: comment lines (generation time) and packet counters.
var counterRE = regexp.MustCompile(`\[\d+:\d+\]`)

func normalizeIptables(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, counterRE.ReplaceAllString(line, "[0:0]"))
	}
	return strings.Join(out, "\n")
}

// collectNodeData runs `netdoctor collect --node-data` into a directory.
func collectNodeData(t *testing.T, args ...string) (string, NetdoctorResult) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	res := runND(t, 3*time.Minute, append([]string{"collect", "--node-data", "-o", dir}, args...)...)
	return dir, res
}

func execIptables(t *testing.T, l *lab.Lab, node string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, node, "iptables-save")
	if err != nil {
		t.Fatalf("ndlab exec %s -- iptables-save: %v", node, err)
	}
	return normalizeIptables(string(out))
}

// firstDiff shows where two texts part.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: collected %q, exec %q", i+1, x, y)
		}
	}
	return "equal"
}

func TestAgentNodeDataMatchesNodes(t *testing.T) {
	l := requireLab(t)
	// Other tests change Services (and so kube-proxy's rules) while this
	// runs: the collected rules must equal what exec shows just before or
	// just after the collection, on one of three attempts.
	var mismatch []string
	for attempt := 0; attempt < 3; attempt++ {
		before := map[string]string{}
		for _, n := range l.Nodes() {
			before[n.Name] = execIptables(t, l, n.Name)
		}
		dir, res := collectNodeData(t)
		if res.ExitCode != 0 {
			t.Fatalf("collect --node-data: exit %d\nstderr: %s", res.ExitCode, res.Stderr)
		}
		mismatch = nil
		for _, n := range l.Nodes() {
			nd := filepath.Join(dir, "nodes", n.Name)
			raw, err := os.ReadFile(filepath.Join(nd, nodedata.FileIptablesSave))
			if err != nil {
				t.Fatalf("node %s: %v (stderr: %s)", n.Name, err, res.Stderr)
			}
			got := normalizeIptables(string(raw))
			if !strings.Contains(got, ":KUBE-SERVICES") {
				t.Errorf("node %s: collected iptables-save has no KUBE-SERVICES chain", n.Name)
			}
			if after := execIptables(t, l, n.Name); got != before[n.Name] && got != after {
				mismatch = append(mismatch, n.Name+" ("+firstDiff(got, after)+")")
			}
			// the other artifacts are there and parse
			routes, err := os.ReadFile(filepath.Join(nd, nodedata.FileIPRoute))
			if err != nil {
				t.Errorf("node %s: %v", n.Name, err)
			} else if rs, err := nodedata.ParseRoutes(nodedata.FileIPRoute, routes); err != nil || len(rs) == 0 {
				t.Errorf("node %s: routes %d, %v", n.Name, len(rs), err)
			}
			if !strings.Contains(string(routes), n.IP) {
				t.Errorf("node %s: ip-route.txt does not mention the node IP %s:\n%s", n.Name, n.IP, routes)
			}
			for _, f := range []string{nodedata.FileIPAddr, nodedata.FileIPRule, nodedata.FileSysctls, nodedata.FileResolvConf, nodedata.FileKubeProxyMode, nodedata.FileConnections, nodedata.FileMeta} {
				if _, err := os.Stat(filepath.Join(nd, f)); err != nil {
					t.Errorf("node %s: %v", n.Name, err)
				}
			}
			// the lab's node agents run as kubelet with --cluster-dns
			if kb, err := os.ReadFile(filepath.Join(nd, nodedata.FileKubelet)); err != nil {
				errs, _ := os.ReadFile(filepath.Join(nd, nodedata.FileErrors))
				t.Errorf("node %s: %v (errors.json: %s)", n.Name, err, errs)
			} else if k, err := nodedata.ParseKubelet(nodedata.FileKubelet, kb); err != nil || strings.Join(k.ClusterDNS, ",") != "10.0.0.10" {
				t.Errorf("node %s: kubelet.json = %s (%v), want clusterDNS 10.0.0.10", n.Name, kb, err)
			}
			if mode, _ := os.ReadFile(filepath.Join(nd, nodedata.FileKubeProxyMode)); !strings.HasPrefix(string(mode), "iptables") {
				t.Errorf("node %s: kube-proxy mode %q, want iptables", n.Name, mode)
			}
		}
		if len(mismatch) == 0 {
			break
		}
		t.Logf("attempt %d: iptables-save differs on %v", attempt+1, mismatch)
	}
	if len(mismatch) > 0 {
		t.Errorf("collected iptables-save differs from 'ndlab exec NODE -- iptables-save' on %v (3 attempts)", mismatch)
	}
	requireNoLeftovers(t, l)
}

// diagnoseJSON runs diagnose with node data and the lab's Azure JSON.
func diagnoseJSON(t *testing.T, l *lab.Lab, args ...string) finding.Report {
	t.Helper()
	res := runND(t, 3*time.Minute, append([]string{"diagnose", "--node-data", "--azure-dir", l.AzureDir(), "-o", "json"}, args...)...)
	if res.ExitCode != 0 && res.ExitCode != 1 {
		t.Fatalf("diagnose: exit %d\nstderr: %s", res.ExitCode, res.Stderr)
	}
	var rep finding.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("diagnose -o json: %v\n%s", err, res.Stdout)
	}
	return rep
}

func checkStatus(rep finding.Report, name string) (finding.Check, bool) {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return finding.Check{}, false
}

func TestAgentNODE001KubenetRouteMissing(t *testing.T) {
	l := requireLab(t)
	if l.State().Config.Network != "kubenet" {
		t.Skip("the lab is not kubenet")
	}
	lockFaults(t)

	healthy := diagnoseJSON(t, l)
	for _, f := range healthy.Findings {
		if strings.HasPrefix(f.Code, "NODE") && f.Severity.Rank() >= finding.Warning.Rank() {
			t.Errorf("healthy lab: %s %s: %s", f.Code, f.Severity, f.Title)
		}
	}
	if c, ok := checkStatus(healthy, "node/pod-cidr-routes"); !ok || c.Status != finding.Passed {
		t.Errorf("healthy lab: node/pod-cidr-routes = %+v, want passed", c)
	}
	if c, ok := checkStatus(healthy, "node/conntrack"); !ok || c.Status == finding.Skipped || c.Status == finding.Error {
		t.Errorf("healthy lab: node/conntrack = %+v, want it checked", c)
	}

	fs := withFault(t, "kubenet-route-missing", lab.FaultOptions{})
	broken := diagnoseJSON(t, l)
	var found *finding.Finding
	for i, f := range broken.Findings {
		if f.Code == "NODE001" {
			if found != nil {
				t.Errorf("more than one NODE001: %s and %s", found.Title, f.Title)
			}
			found = &broken.Findings[i]
		}
	}
	if found == nil {
		t.Fatalf("no NODE001 under kubenet-route-missing (target %s); checks: %+v", fs.Target, broken.Checks)
	}
	if len(found.Subjects) == 0 || found.Subjects[0].Kind != "Node" || found.Subjects[0].Name != fs.Target {
		t.Errorf("NODE001 subjects = %+v, want Node %s", found.Subjects, fs.Target)
	}
	var cidr string
	for _, n := range l.Nodes() {
		if n.Name == fs.Target {
			cidr = n.PodCIDR
		}
	}
	if !strings.Contains(strings.Join(found.Evidence, "\n"), cidr) {
		t.Errorf("NODE001 evidence does not name pod CIDR %s: %v", cidr, found.Evidence)
	}
	requireNoLeftovers(t, l)
}

// TestAgentCleanupAfterInterrupts runs the node agent 20 times: half run to
// the end, a quarter get SIGINT at a random moment, a quarter time out.
// Nothing may be left behind, and `netdoctor cleanup` must find nothing.
func TestAgentCleanupAfterInterrupts(t *testing.T) {
	l := requireLab(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	var interrupted, timedOut, completed int
	for i := 0; i < 20; i++ {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("b%d", i))
		args := []string{"collect", "--node-data", "-o", dir}
		mode := "complete"
		switch i % 4 {
		case 1:
			mode = "sigint"
		case 3:
			mode = "timeout"
			args = append(args, "--timeout", "1s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd, _, stderr := startND(t, ctx, args...)
		if mode == "sigint" {
			time.Sleep(time.Duration(200+rng.IntN(4000)) * time.Millisecond)
			_ = cmd.Process.Signal(os.Interrupt)
		}
		err := cmd.Wait()
		expired := ctx.Err() == context.DeadlineExceeded
		cancel()
		if expired {
			t.Fatalf("run %d (%s) did not end within 2m; stderr: %s", i, mode, stderr.String())
		}
		switch mode {
		case "complete":
			if err != nil {
				t.Errorf("run %d: %v; stderr: %s", i, err, stderr.String())
			}
			completed++
		case "sigint":
			interrupted++
		case "timeout":
			if err == nil && !strings.Contains(stderr.String(), "Timeout") {
				t.Logf("run %d with --timeout 1s finished anyway: %s", i, stderr.String())
			}
			timedOut++
		}
		// runs take turns: each must leave nothing before the next
		ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		p, d, _, names, err := countLeftovers(ctx2, l)
		cancel2()
		if err == nil && p+d > 0 {
			t.Errorf("run %d (%s) left %s", i, mode, strings.Join(names, ", "))
		}
	}
	t.Logf("%d completed, %d interrupted, %d timed out", completed, interrupted, timedOut)
	requireNoLeftovers(t, l)
	// `netdoctor cleanup` finds nothing of these runs. The lab is shared
	// with other tests whose runs may be live right now, so cleanup runs
	// with --dry-run (not to remove their pods) and every object it lists
	// must belong to another process.
	res := runND(t, time.Minute, "cleanup", "--dry-run")
	if res.ExitCode != 0 {
		t.Fatalf("netdoctor cleanup --dry-run: exit %d, stderr %q", res.ExitCode, res.Stderr)
	}
	out := strings.TrimSpace(res.Stdout)
	if out != "nothing to clean up" {
		for _, line := range strings.Split(out, "\n") {
			m := regexp.MustCompile(`pid (\d+)\)$`).FindStringSubmatch(line)
			if m == nil {
				t.Errorf("cleanup lists %q with no owner", line)
				continue
			}
			pid, _ := strconv.Atoi(m[1])
			myPIDsMu.Lock()
			if myPIDs[pid] {
				t.Errorf("cleanup finds a leftover of this test's runs: %s", line)
			}
			myPIDsMu.Unlock()
		}
		t.Logf("cleanup --dry-run lists other tests' live objects:\n%s", out)
	}
}

func TestAgentExplainsNodeSelectorMatchingNothing(t *testing.T) {
	l := requireLab(t)
	start := time.Now()
	_, res := collectNodeData(t, "--node-selector", "netdoctor.io/e2e=nowhere", "--timeout", "30s")
	if res.ExitCode == 0 {
		t.Fatalf("collect succeeded with a node selector that matches nothing")
	}
	if !strings.Contains(res.Stderr, "no node matches --node-selector netdoctor.io/e2e=nowhere") {
		t.Errorf("stderr does not explain the selector: %s", res.Stderr)
	}
	t.Logf("answer after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(res.Stderr))
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s, want the answer within the 30s timeout", took)
	}
	requireNoLeftovers(t, l)
}

// TestAgentExplainsImagePullFailure: the lab's node agents run any image
// (they do not pull), so a real pull failure cannot happen there. The test
// registers a Node that no lab agent serves and plays its kubelet: it
// reports ImagePullBackOff for the agent pod, as a kubelet does for an
// image it cannot pull. The API server, the runner and the CLI are real.
func TestAgentExplainsImagePullFailure(t *testing.T) {
	l := requireLab(t)
	c := l.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := uniqueName("e2e-pullfail-")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux", "netdoctor.io/e2e": name}}}
	if _, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	})
	// the node controller writes the new node too: retry on conflicts
	eventually(t, 20*time.Second, "node "+name+" Ready", func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	const image = "registry.invalid/netdoctor:does-not-exist"
	// the stand-in kubelet
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			pods, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
			if err != nil {
				continue
			}
			for _, p := range pods.Items {
				if p.Spec.NodeName != name || len(p.Status.ContainerStatuses) > 0 {
					continue
				}
				p.Status.Phase = corev1.PodPending
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{
					Name: runner.ContainerName, Image: p.Spec.Containers[0].Image,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
						Reason:  "ImagePullBackOff",
						Message: fmt.Sprintf("Back-off pulling image %q", p.Spec.Containers[0].Image),
					}},
				}}
				_, _ = c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
			}
		}
	}()
	start := time.Now()
	_, res := collectNodeData(t, "--node-selector", "netdoctor.io/e2e="+name, "--image", image, "--timeout", "40s")
	took := time.Since(start)
	// diagnose degrades instead: the node checks say why they were skipped.
	diag := runND(t, 3*time.Minute, "diagnose", "--node-data", "-o", "json", "--fail-on", "none",
		"--node-selector", "netdoctor.io/e2e="+name, "--image", image, "--timeout", "40s")
	close(stop)
	<-done
	if diag.ExitCode != 0 || !strings.Contains(diag.Stderr, "warning: --node-data: no node answered") {
		t.Errorf("diagnose --node-data with no node answering: exit %d, stderr %s; want 0 and a warning", diag.ExitCode, diag.Stderr)
	} else {
		var rep finding.Report
		if err := json.Unmarshal([]byte(diag.Stdout), &rep); err != nil {
			t.Fatalf("diagnose output is not JSON: %v", err)
		}
		if c, ok := checkStatus(rep, "node/conntrack"); !ok || c.Status != finding.Skipped || !strings.Contains(c.Reason, "ImagePull") {
			t.Errorf("node/conntrack = %+v; want skipped, saying the image could not be pulled", c)
		}
	}
	if res.ExitCode == 0 {
		t.Fatalf("collect succeeded although the image cannot be pulled")
	}
	for _, want := range []string{"ImagePull", image, "--image", "--image-pull-secret"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr does not mention %q: %s", want, res.Stderr)
		}
	}
	t.Logf("answer after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(res.Stderr))
	if took > 40*time.Second {
		t.Errorf("took %s, want the answer within the 40s timeout", took)
	}
	// the pod on the fake node is gone too
	eventually(t, 30*time.Second, "agent pod on "+name+" deleted", func() error {
		pods, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName == name {
				return fmt.Errorf("agent pod %s/%s left", p.Namespace, p.Name)
			}
		}
		return nil
	})
	requireNoLeftovers(t, l)
}

// applyRBAC creates the objects of one deploy/ manifest, renamed so that
// this test's copy touches nothing else in the shared lab: every netdoctor-*
// name gets the suffix, and the netdoctor namespace becomes ns. It deletes
// them when the test ends.
func applyRBAC(t *testing.T, l *lab.Lab, file, sfx, ns string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", file))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.ReplaceAll(string(raw), "name: netdoctor-", "name: netdoctor-"+sfx+"-")
	y = strings.ReplaceAll(y, "name: netdoctor\n", "name: "+ns+"\n")
	y = strings.ReplaceAll(y, "namespace: netdoctor\n", "namespace: "+ns+"\n")
	c := l.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dec := scheme.Codecs.UniversalDeserializer()
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(y, -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s document %d: %v", file, i+1, err)
		}
		var del func(context.Context) error
		switch o := obj.(type) {
		case *corev1.Namespace:
			_, err = c.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
			del = func(ctx context.Context) error {
				return c.CoreV1().Namespaces().Delete(ctx, o.Name, metav1.DeleteOptions{})
			}
		case *rbacv1.ClusterRole:
			_, err = c.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
			del = func(ctx context.Context) error {
				return c.RbacV1().ClusterRoles().Delete(ctx, o.Name, metav1.DeleteOptions{})
			}
		case *rbacv1.ClusterRoleBinding:
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			del = func(ctx context.Context) error {
				return c.RbacV1().ClusterRoleBindings().Delete(ctx, o.Name, metav1.DeleteOptions{})
			}
		case *rbacv1.Role:
			_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			del = func(ctx context.Context) error {
				return c.RbacV1().Roles(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
			}
		case *rbacv1.RoleBinding:
			_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			del = func(ctx context.Context) error {
				return c.RbacV1().RoleBindings(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
			}
		default:
			t.Fatalf("%s document %d: unexpected %T", file, i+1, obj)
		}
		if err != nil {
			t.Fatalf("%s document %d: create: %v", file, i+1, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := del(ctx); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete %s object: %v", file, err)
			}
		})
	}
}

// TestAgentDeployRBACIsEnough runs collect --node-data as a user that has
// only the rights of deploy/rbac-readonly.yaml and deploy/rbac-probes.yaml
// (impersonated, against the lab's RBAC-enforcing API server): everything
// is collected, and the namespace the manifest made is kept.
func TestAgentDeployRBACIsEnough(t *testing.T) {
	l := requireLab(t)
	sfx := fmt.Sprintf("%06x", rand.IntN(1<<24))
	ns := "nd-e2e-rbac-" + sfx
	group := "netdoctor-" + sfx + "-users"
	applyRBAC(t, l, "rbac-readonly.yaml", sfx, ns)
	applyRBAC(t, l, "rbac-probes.yaml", sfx, ns)
	as := []string{"--as", "e2e-rbac-user", "--as-group", group}

	dir := filepath.Join(t.TempDir(), "bundle")
	var res NetdoctorResult
	// RBAC caches take a moment to see new bindings
	eventually(t, 30*time.Second, "collect --node-data with the deploy/ rights", func() error {
		res = runND(t, 3*time.Minute, append([]string{"collect", "--node-data", "--agent-namespace", ns, "-o", dir}, as...)...)
		if res.ExitCode != 0 {
			return fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
		}
		return nil
	})
	var man struct {
		Skipped []struct{ Resource, Reason string } `json:"skipped"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	for _, sk := range man.Skipped {
		// the lab has no metrics-server: that one is expected
		if sk.Resource != "metrics" || strings.Contains(sk.Reason, "forbidden") {
			t.Errorf("not collected with the deploy/ rights: %s: %s", sk.Resource, sk.Reason)
		}
	}
	for _, n := range l.Nodes() {
		if _, err := os.Stat(filepath.Join(dir, "nodes", n.Name, nodedata.FileIptablesSave)); err != nil {
			t.Errorf("node %s: %v", n.Name, err)
		}
	}
	if _, err := l.Client().CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err != nil {
		t.Errorf("the manifest's namespace %s was removed: %v", ns, err)
	}
	// cleanup works with these rights too
	res = runND(t, time.Minute, append([]string{"cleanup", "--dry-run", "--agent-namespace", ns}, as...)...)
	if res.ExitCode != 0 {
		t.Errorf("cleanup --dry-run with the deploy/ rights: exit %d: %s", res.ExitCode, res.Stderr)
	}
	requireNoLeftovers(t, l)
}
