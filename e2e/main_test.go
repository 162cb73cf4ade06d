//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/netdoctor/netdoctor/internal/lab"
)

// Suite-wide state set up by TestMain.
var (
	theLab       *lab.Lab
	skipReason   string // why the lab is not available (tests skip)
	startedLab   bool   // TestMain brought the lab up, so it takes it down
	buildDir     string // temp dir holding the binaries TestMain built
	netdoctorErr error  // why the netdoctor binary could not be built
)

// repoRoot is the module root (go test runs in the package directory).
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	var err error
	buildDir, err = os.MkdirTemp("", "netdoctor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(buildDir)
	flag.Parse()
	setupLab(ctx)
	if startedLab {
		stop := downOnInterrupt()
		defer stop()
	}
	var release func()
	if theLab != nil {
		release = theLab.Use()
	}
	code := m.Run()
	if theLab != nil {
		cleanupSuitePods(ctx)
		release()
	}
	if startedLab && os.Getenv("NDLAB_KEEP") == "" {
		// Other test processes on this machine may have picked the lab up:
		// let them finish (bounded) before taking it down.
		for deadline := time.Now().Add(10 * time.Minute); len(theLab.OtherUsers()) > 0 && time.Now().Before(deadline); {
			fmt.Println("e2e: waiting for other lab users:", theLab.OtherUsers())
			time.Sleep(5 * time.Second)
		}
		if err := lab.Down(ctx, theLab.RunDir()); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: FAIL: lab down:", err)
			code = 1
		}
		// down must leave nothing: no namespace, no process, no run dir.
		if left := lab.Inspect(theLab.RunDir()); !left.Empty() {
			fmt.Fprintln(os.Stderr, "e2e: FAIL: leftovers after lab down:", left)
			code = 1
		} else {
			fmt.Println("e2e: lab down left nothing behind")
		}
	}
	return code
}

// downOnInterrupt takes down a lab this process started when the run is
// interrupted (Ctrl-C, SIGTERM) or is about to hit go test's -timeout, which
// would otherwise kill the process before TestMain cleans up.
func downOnInterrupt() (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var timeout <-chan time.Time
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > time.Minute {
			timer := time.NewTimer(d - 30*time.Second)
			timeout = timer.C
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "e2e: %v: taking the lab down\n", s)
		case <-timeout:
			fmt.Fprintln(os.Stderr, "e2e: test timeout is near: taking the lab down")
		case <-done:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = lab.Down(ctx, theLab.RunDir())
		os.Exit(1)
	}()
	return func() { signal.Stop(sig); close(done) }
}

// setupLab builds the binaries and brings the lab up, or reuses one that
// `ndlab up` started. On any problem it records skipReason instead.
func setupLab(ctx context.Context) {
	if os.Geteuid() != 0 {
		skipReason = "the lab needs root (network namespaces, iptables); run as root or use make e2e"
		return
	}
	root := repoRoot()
	goBuild := func(out, pkg string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(buildDir, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w: %s", pkg, err, b)
		}
		return nil
	}
	if err := goBuild("ndlab", "./cmd/ndlab"); err != nil {
		skipReason = "cannot build ndlab: " + err.Error()
		return
	}
	netdoctorErr = goBuild("netdoctor", "./cmd/netdoctor")
	binDir := os.Getenv("NDLAB_BIN")
	if binDir == "" {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "lab-build.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			skipReason = "cannot build the lab binaries (scripts/lab-build.sh): " + err.Error()
			return
		}
		binDir = strings.TrimSpace(string(out))
	}
	// NDLAB_NAME picks a lab of one's own beside the default one.
	name := os.Getenv("NDLAB_NAME")
	runDir := lab.RunDirFor(name)
	if lab.IsUp(runDir) && labDead(runDir) {
		// Debris of a lab whose processes all died (e.g. a session that
		// stopped): Up below sweeps it and starts afresh.
		fmt.Println("e2e: the lab in", runDir, "is dead; starting a new one")
	}
	if lab.IsUp(runDir) && !labDead(runDir) {
		l, err := lab.Load(runDir)
		if err == nil && !l.State().Ready {
			err = fmt.Errorf("the lab in %s is not ready (still starting, or up failed)", runDir)
		}
		if err != nil {
			upErr = fmt.Errorf("a lab is up but unusable (ndlab down removes it): %w", err)
			return
		}
		if dead := l.DeadProcs(); len(dead) > 0 {
			upErr = fmt.Errorf("the running lab has dead processes %v (ndlab down removes it)", dead)
			return
		}
		if err := l.WaitHealthy(ctx, 2*time.Minute); err != nil {
			upErr = fmt.Errorf("the running lab is not healthy: %w", err)
			return
		}
		theLab = l
		fmt.Println("e2e: reusing the running lab in", l.RunDir())
	} else {
		start := time.Now()
		l, err := lab.Up(ctx, lab.Config{
			Name:   name,
			BinDir: binDir,
			Ndlab:  filepath.Join(buildDir, "ndlab"),
			Logf:   func(f string, a ...any) { fmt.Printf("e2e: lab: "+f+"\n", a...) },
		})
		if err != nil {
			// Up removes what it made; a broken lab is a failure, not a skip.
			fmt.Fprintln(os.Stderr, "e2e: FAIL: lab up:", err)
			skipReason = ""
			theLab = nil
			upErr = err
			return
		}
		fmt.Printf("e2e: lab up in %s\n", time.Since(start).Round(100*time.Millisecond))
		theLab, startedLab = l, true
	}
	if netdoctorErr == nil {
		if err := theLab.InstallNetdoctor(filepath.Join(buildDir, "netdoctor")); err != nil {
			netdoctorErr = err
		}
	}
}

// labDead reports whether the recorded lab has no live process left.
func labDead(runDir string) bool {
	l, err := lab.Load(runDir)
	return err == nil && len(l.AliveProcs()) == 0
}

// upErr is why lab.Up failed; tests then fail rather than skip.
var upErr error

// requireLab returns the suite's lab. It skips the test when the lab cannot
// run here (not root, binaries not buildable) and fails it when the lab
// should run but did not come up.
func requireLab(t testing.TB) *lab.Lab {
	t.Helper()
	if upErr != nil {
		t.Fatalf("lab did not come up: %v", upErr)
	}
	if theLab == nil {
		t.Skipf("e2e: skipped: %s", skipReason)
	}
	return theLab
}

// netdoctorBin is the netdoctor binary TestMain built (also installed in the
// lab for pods of netdoctor images).
func netdoctorBin(t testing.TB) string {
	t.Helper()
	requireLab(t)
	if netdoctorErr != nil {
		t.Fatalf("netdoctor binary: %v", netdoctorErr)
	}
	return filepath.Join(buildDir, "netdoctor")
}

// NetdoctorResult is one run of the netdoctor binary.
type NetdoctorResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// runNetdoctor runs netdoctor with args against the lab (KUBECONFIG set to
// the lab's), killed after timeout.
func runNetdoctor(t testing.TB, timeout time.Duration, args ...string) NetdoctorResult {
	t.Helper()
	bin := netdoctorBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+theLab.Kubeconfig())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := NetdoctorResult{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	default:
		t.Fatalf("run netdoctor %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("netdoctor %v did not finish in %s; stderr: %s", args, timeout, res.Stderr)
	}
	return res
}

// Faults change the whole lab, so tests that inject them take turns, across
// goroutines and across processes sharing the lab (lab.LockFaults).
var (
	faultHolders = map[testing.TB]bool{}
	faultHolderM sync.Mutex
)

// lockFaults holds the lab's fault lock from now until t ends.
func lockFaults(t testing.TB) {
	t.Helper()
	faultHolderM.Lock()
	held := faultHolders[t]
	faultHolderM.Unlock()
	if held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	unlock, err := requireLab(t).LockFaults(ctx)
	if err != nil {
		t.Fatalf("fault lock: %v", err)
	}
	faultHolderM.Lock()
	faultHolders[t] = true
	faultHolderM.Unlock()
	t.Cleanup(func() {
		faultHolderM.Lock()
		delete(faultHolders, t)
		faultHolderM.Unlock()
		unlock()
	})
}

// withFault injects a fault for the rest of the test and clears it (and
// waits for the lab to be healthy again) when the test ends.
func withFault(t testing.TB, name string, opts lab.FaultOptions) lab.FaultState {
	t.Helper()
	l := requireLab(t)
	lockFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fs, err := l.Fault(ctx, name, opts)
	if err != nil {
		t.Fatalf("fault %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := l.ClearFault(ctx, name); err != nil {
			t.Errorf("clear fault %s: %v", name, err)
		}
	})
	return fs
}

// uniqueName returns prefix plus a random suffix, for names no cache saw.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%06x", prefix, rand.IntN(1<<24))
}

// createPod creates pod (namespace "default" when empty), waits until it is
// Ready (or has finished, for restartPolicy Never pods) and deletes it when
// the test ends.
func createPod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	l := requireLab(t)
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := l.Client().CoreV1().Pods(pod.Namespace)
	created, err := c.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	t.Cleanup(func() { deletePod(l, created.Namespace, created.Name) })
	got, err := waitPod(ctx, l, created.Namespace, created.Name)
	if err != nil {
		t.Fatalf("pod %s: %v", pod.Name, err)
	}
	return got
}

func deletePod(l *lab.Lab, ns, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := l.Client().CoreV1().Pods(ns)
	if err := c.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)}); err != nil && !apierrors.IsNotFound(err) {
		return
	}
	for ctx.Err() == nil {
		if _, err := c.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitPod waits until the pod is Ready, Succeeded or Failed.
func waitPod(ctx context.Context, l *lab.Lab, ns, name string) (*corev1.Pod, error) {
	for {
		p, err := l.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				return p, nil
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return p, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("not ready: %w", ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// serverPod is a pod whose container answers HTTP (with its identity) and
// TCP echo on port, pinned to node when node is set.
func serverPod(name, node string, labels map[string]string, port int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "web", Image: "ndlab/web:1", Ports: []corev1.ContainerPort{{ContainerPort: port}}}},
		},
	}
}

// Suite client pods: one idle pod per node, created on first use.
var (
	clientsMu sync.Mutex
	clients   = map[int]*corev1.Pod{}
)

// clientPod returns "default/<name>" of an idle pod on node index i, to run
// probes from (l.Exec, l.HTTPGet, l.DNSQuery, l.Dialer). Tests must not
// delete it: it lives until the suite ends.
func clientPod(t testing.TB, i int) string {
	t.Helper()
	l := requireLab(t)
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if p, ok := clients[i]; ok {
		return p.Namespace + "/" + p.Name
	}
	nodes := l.Nodes()
	if i >= len(nodes) {
		t.Fatalf("no node %d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		// The pid keeps test processes sharing one lab off each other's pods.
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("e2e-client-%d-%d", os.Getpid(), i), Namespace: "default", Labels: map[string]string{"e2e": "client"}},
		Spec:       corev1.PodSpec{NodeName: nodes[i].Name, Containers: []corev1.Container{{Name: "idle", Image: "debian:bookworm-slim"}}},
	}
	deletePod(l, pod.Namespace, pod.Name)
	if _, err := l.Client().CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create client pod: %v", err)
	}
	p, err := waitPod(ctx, l, "default", pod.Name)
	if err != nil {
		t.Fatalf("client pod: %v", err)
	}
	clients[i] = p
	return p.Namespace + "/" + p.Name
}

func cleanupSuitePods(ctx context.Context) {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	for _, p := range clients {
		deletePod(theLab, p.Namespace, p.Name)
	}
}

// eventually retries f every 500 ms until it returns nil or timeout passes,
// then fails the test with f's last error.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
