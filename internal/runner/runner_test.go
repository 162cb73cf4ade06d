package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/netdoctor/netdoctor/internal/agent"
)

func node(name string, labels map[string]string, ready bool) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	if labels == nil {
		labels = map[string]string{"kubernetes.io/os": "linux"}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st, Reason: "KubeletReady"}}},
	}
}

// kubelet plays the node: it applies status to agent pods the runner
// creates, until ctx ends.
type kubelet struct {
	client *fake.Clientset
	// status returns the status to give a pod (nil: leave it Pending).
	status func(p *corev1.Pod) *corev1.PodStatus
}

func (k *kubelet) run(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pods, err := k.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			st := k.status(p)
			if st == nil || p.Status.Phase == st.Phase && p.Status.Phase != "" {
				continue
			}
			p.Status = *st
			_, _ = k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}
}

func succeeded(p *corev1.Pod) *corev1.PodStatus {
	return &corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}},
	}}}
}

// logFromArgs answers as the agent would: it decodes the request from the
// pod's args and echoes it with the node name.
func logFromArgs(c *fake.Clientset) func(ctx context.Context, ns, name string) ([]byte, error) {
	return func(ctx context.Context, ns, name string) ([]byte, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		args := p.Spec.Containers[0].Args
		var req agent.Request
		if err := json.Unmarshal([]byte(args[len(args)-1]), &req); err != nil {
			return nil, err
		}
		res, _ := json.Marshal(map[string]any{"spec": req.Spec, "hostNetwork": p.Spec.HostNetwork})
		b, _ := json.Marshal(agent.Response{Kind: req.Kind, Node: p.Spec.NodeName, Result: res})
		return append([]byte("some warning on stderr\n"), append(b, '\n')...), nil
	}
}

func newTestRunner(t *testing.T, c *fake.Clientset, opts Options) *Runner {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	r := New(c, opts)
	r.readLog = logFromArgs(c)
	return r
}

func startKubelet(t *testing.T, c *fake.Clientset, status func(*corev1.Pod) *corev1.PodStatus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); (&kubelet{client: c, status: status}).run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func agentPods(t *testing.T, c *fake.Clientset) []corev1.Pod {
	t.Helper()
	pods, err := c.CoreV1().Pods(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return pods.Items
}

func TestRunSuccessDeletesPod(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true))
	var created *corev1.Pod
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		return false, nil, nil
	})
	startKubelet(t, c, succeeded)
	r := newTestRunner(t, c, Options{Image: "example.com/nd:1", ImagePullSecrets: []string{"regcred"}})
	spec := json.RawMessage(`{"target":"10.0.0.10"}`)
	resp, err := r.Run(context.Background(), Target{Node: "n1", HostNetwork: true}, agent.Request{Kind: "dns", Spec: spec})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if resp.Kind != "dns" || resp.Node != "n1" {
		t.Errorf("response kind/node = %q/%q, want dns/n1", resp.Kind, resp.Node)
	}
	if !strings.Contains(string(resp.Result), `"hostNetwork":true`) || !strings.Contains(string(resp.Result), `10.0.0.10`) {
		t.Errorf("result = %s, want the echoed spec with hostNetwork true", resp.Result)
	}
	if got := agentPods(t, c); len(got) != 0 {
		t.Errorf("agent pods after Run = %d, want 0", len(got))
	}
	// the pod that was created
	if created == nil {
		t.Fatal("no pod was created")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"namespace", created.Namespace, DefaultNamespace},
		{"node", created.Spec.NodeName, "n1"},
		{"managed-by", created.Labels[LabelManagedBy], ManagedByValue},
		{"run id", created.Labels[LabelRunID], r.RunID()},
		{"image", created.Spec.Containers[0].Image, "example.com/nd:1"},
		{"pull secret", created.Spec.ImagePullSecrets[0].Name, "regcred"},
		{"hostNetwork", created.Spec.HostNetwork, true},
		{"hostPID", created.Spec.HostPID, true},
		{"privileged", *created.Spec.Containers[0].SecurityContext.Privileged, true},
		{"restart", created.Spec.RestartPolicy, corev1.RestartPolicyNever},
		{"command", strings.Join(created.Spec.Containers[0].Command, " ") + " " + created.Spec.Containers[0].Args[0], "netdoctor agent"},
		{"deadline set", created.Spec.ActiveDeadlineSeconds != nil && *created.Spec.ActiveDeadlineSeconds > 0, true},
		{"tolerate all", created.Spec.Tolerations[0].Operator, corev1.TolerationOpExists},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("pod %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	// the namespace was created for the run and Close removes it
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace after Run: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after Close: err = %v, want NotFound", err)
	}
}

func TestCloseKeepsExistingNamespace(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tools"}})
	startKubelet(t, c, succeeded)
	r := newTestRunner(t, c, Options{Namespace: "tools"})
	if _, err := r.Run(context.Background(), Target{Node: "n1"}, agent.Request{Kind: "probe"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), "tools", metav1.GetOptions{}); err != nil {
		t.Errorf("existing namespace after Close: %v, want it kept", err)
	}
}

func TestRunCancelDeletesPod(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true))
	created := make(chan struct{}, 1)
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case created <- struct{}{}:
		default:
		}
		return false, nil, nil
	})
	startKubelet(t, c, func(*corev1.Pod) *corev1.PodStatus { return nil }) // stays Pending
	r := newTestRunner(t, c, Options{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-created; cancel() }()
	_, err := r.Run(ctx, Target{Node: "n1"}, agent.Request{Kind: "probe"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
	if got := agentPods(t, c); len(got) != 0 {
		t.Errorf("agent pods after cancel = %d, want 0", len(got))
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	nss, _ := c.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if len(nss.Items) != 0 {
		t.Errorf("namespaces after Close = %d, want 0", len(nss.Items))
	}
}

// An interrupted Create may still have stored the pod: the runner deletes
// it by name anyway.
func TestRunInterruptedCreateStillDeletes(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true))
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if err := c.Tracker().Create(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, p, p.Namespace); err != nil {
			return true, nil, err
		}
		return true, nil, context.Canceled
	})
	r := newTestRunner(t, c, Options{})
	_, err := r.Run(context.Background(), Target{Node: "n1"}, agent.Request{Kind: "probe"})
	if err == nil {
		t.Fatal("Run succeeded, want the create error")
	}
	if got := agentPods(t, c); len(got) != 0 {
		t.Errorf("agent pods after interrupted create = %d, want 0", len(got))
	}
}

func TestRunExplainsStartFailures(t *testing.T) {
	waiting := func(reason, msg string) func(*corev1.Pod) *corev1.PodStatus {
		return func(p *corev1.Pod) *corev1.PodStatus {
			return &corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
				Name: ContainerName, Image: p.Spec.Containers[0].Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
			}}}
		}
	}
	tests := []struct {
		name       string
		status     func(*corev1.Pod) *corev1.PodStatus
		reactor    k8stesting.ReactionFunc
		opts       Options
		target     Target
		wantReason string
		wantText   []string
	}{
		{
			name:       "image pull back-off",
			status:     waiting("ImagePullBackOff", `Back-off pulling image "registry.invalid/netdoctor:v9"`),
			opts:       Options{Image: "registry.invalid/netdoctor:v9"},
			target:     Target{Node: "n1"},
			wantReason: "ImagePull",
			wantText:   []string{"registry.invalid/netdoctor:v9", "--image", "--image-pull-secret"},
		},
		{
			name:       "invalid image name",
			status:     waiting("InvalidImageName", `couldn't parse image name "UPPER/case"`),
			target:     Target{Node: "n1"},
			wantReason: "ImagePull",
		},
		{
			name:       "missing pull secret",
			status:     waiting("CreateContainerConfigError", `secret "regcred" not found`),
			target:     Target{Node: "n1"},
			wantReason: "CreateContainerConfigError",
			wantText:   []string{`secret "regcred" not found`},
		},
		{
			name: "unschedulable",
			status: func(*corev1.Pod) *corev1.PodStatus {
				return &corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
					Message: "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: infra}.",
				}}}
			},
			target:     Target{Node: "n1"},
			wantReason: "Unschedulable",
			wantText:   []string{"untolerated taint"},
		},
		{
			name: "rejected by the node",
			status: func(*corev1.Pod) *corev1.PodStatus {
				return &corev1.PodStatus{Phase: corev1.PodFailed, Reason: "OutOfmemory", Message: "Pod Node didn't have enough resource: memory"}
			},
			target:     Target{Node: "n1"},
			wantReason: "Failed",
			wantText:   []string{"OutOfmemory", "no room"},
		},
		{
			name:   "pod security admission",
			status: succeeded,
			reactor: func(a k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x",
					errors.New(`violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true), privileged (container "agent" must not set securityContext.privileged=true)`))
			},
			target:     Target{Node: "n1", HostNetwork: true},
			wantReason: "Admission",
			wantText:   []string{"Pod Security", "privileged"},
		},
		{
			name:   "rbac",
			status: succeeded,
			reactor: func(a k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New(`User "bob" cannot create resource "pods"`))
			},
			target:     Target{Node: "n1"},
			wantReason: "Forbidden",
			wantText:   []string{"deploy/"},
		},
		{
			name:       "node selector matches nothing",
			status:     succeeded,
			opts:       Options{NodeSelector: map[string]string{"pool": "missing"}},
			wantReason: "Unschedulable",
			wantText:   []string{"no node matches --node-selector pool=missing"},
		},
		{
			name:       "node does not exist",
			status:     succeeded,
			target:     Target{Node: "ghost"},
			wantReason: "Unschedulable",
			wantText:   []string{"ghost does not exist"},
		},
		{
			name:       "never started",
			status:     func(*corev1.Pod) *corev1.PodStatus { return nil },
			opts:       Options{Timeout: 100 * time.Millisecond},
			target:     Target{Node: "n1"},
			wantReason: "Timeout",
			wantText:   []string{"did not start the pod"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(node("n1", nil, true))
			if tt.reactor != nil {
				c.PrependReactor("create", "pods", tt.reactor)
			}
			startKubelet(t, c, tt.status)
			r := newTestRunner(t, c, tt.opts)
			_, err := r.Run(context.Background(), tt.target, agent.Request{Kind: "probe"})
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("Run error = %v (%T), want a *StartError", err, err)
			}
			if se.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q (error: %v)", se.Reason, tt.wantReason, err)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := agentPods(t, c); len(got) != 0 {
				t.Errorf("agent pods left = %d, want 0", len(got))
			}
		})
	}
}

func TestRunFailedPodStillReadsResponse(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true))
	startKubelet(t, c, func(*corev1.Pod) *corev1.PodStatus {
		return &corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
		}}}
	})
	r := newTestRunner(t, c, Options{})
	r.readLog = func(context.Context, string, string) ([]byte, error) {
		return []byte(`{"kind":"node-data","node":"n1","error":"iptables-save: exit status 1"}` + "\n"), nil
	}
	resp, err := r.Run(context.Background(), Target{Node: "n1"}, agent.Request{Kind: "node-data"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if resp.Error != "iptables-save: exit status 1" {
		t.Errorf("resp.Error = %q, want the handler's error", resp.Error)
	}
}

func TestRunBesidePod(t *testing.T) {
	ndots := "2"
	app := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"},
		Spec: corev1.PodSpec{NodeName: "n2", DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"169.254.20.10"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}},
		}},
	}
	c := fake.NewClientset(node("n1", nil, true), node("n2", nil, true), app)
	var created *corev1.Pod
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		return false, nil, nil
	})
	startKubelet(t, c, succeeded)
	r := newTestRunner(t, c, Options{})
	if _, err := r.Run(context.Background(), Target{BesidePod: "shop/web-0"}, agent.Request{Kind: "dns"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if created.Namespace != "shop" || created.Spec.NodeName != "n2" || created.Spec.DNSPolicy != corev1.DNSNone ||
		created.Spec.DNSConfig == nil || created.Spec.DNSConfig.Nameservers[0] != "169.254.20.10" || created.Spec.HostNetwork {
		t.Errorf("pod beside shop/web-0: ns=%s node=%s dnsPolicy=%s dnsConfig=%+v hostNetwork=%v, want shop, n2, None, 169.254.20.10, false",
			created.Namespace, created.Spec.NodeName, created.Spec.DNSPolicy, created.Spec.DNSConfig, created.Spec.HostNetwork)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("netdoctor namespace created for a pod beside another: err=%v, want NotFound", err)
	}
	if got := agentPods(t, c); len(got) != 0 {
		t.Errorf("agent pods left = %d, want 0", len(got))
	}
}

func TestRunAllBoundedAndSkipsWindows(t *testing.T) {
	nodes := []runtime.Object{
		node("win-0", map[string]string{"kubernetes.io/os": "windows"}, true),
		node("down-0", nil, false),
	}
	for i := 0; i < 6; i++ {
		nodes = append(nodes, node(fmt.Sprintf("lin-%d", i), nil, true))
	}
	c := fake.NewClientset(nodes...)
	var live, peak atomic.Int32
	var mu sync.Mutex
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if n := live.Add(1); n > peak.Load() {
			peak.Store(n)
		}
		return false, nil, nil
	})
	c.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		live.Add(-1)
		return false, nil, nil
	})
	startKubelet(t, c, succeeded)
	r := newTestRunner(t, c, Options{MaxParallel: 2})
	resps, errs := r.RunAll(context.Background(), true, agent.Request{Kind: "node-data"})
	if len(resps) != 6 {
		t.Errorf("responses = %d, want 6 (errors: %v)", len(resps), errs)
	}
	skipped := map[string]string{}
	for _, err := range errs {
		var ne *NodeError
		if !errors.As(err, &ne) || !errors.Is(err, ErrSkipped) {
			t.Errorf("unexpected error %v", err)
			continue
		}
		skipped[ne.Node] = err.Error()
	}
	if !strings.Contains(skipped["win-0"], "Windows") || !strings.Contains(skipped["down-0"], "not Ready") {
		t.Errorf("skipped = %v, want win-0 (Windows) and down-0 (not Ready)", skipped)
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent agent pods = %d, want 1..2 (MaxParallel 2)", p)
	}
	if got := agentPods(t, c); len(got) != 0 {
		t.Errorf("agent pods left = %d, want 0", len(got))
	}
}

func TestCleanup(t *testing.T) {
	lbl := map[string]string{LabelManagedBy: ManagedByValue}
	c := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor", Labels: lbl}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-a-1", Namespace: "netdoctor", Labels: lbl}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-a-2", Namespace: "shop", Labels: lbl}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-a", Namespace: "netdoctor", Labels: lbl}},
	)
	removed, err := Cleanup(context.Background(), c)
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	want := "daemonset/netdoctor/netdoctor-a pod/netdoctor/netdoctor-a-1 pod/shop/netdoctor-a-2 namespace/netdoctor"
	if got := strings.Join(removed, " "); got != want {
		t.Errorf("removed = %q, want %q", got, want)
	}
	if _, err := c.CoreV1().Pods("shop").Get(context.Background(), "web-0", metav1.GetOptions{}); err != nil {
		t.Errorf("unrelated pod: %v, want it kept", err)
	}
	again, err := Cleanup(context.Background(), c)
	if err != nil || len(again) != 0 {
		t.Errorf("second Cleanup = %v, %v; want nothing", again, err)
	}
}

func TestParseLog(t *testing.T) {
	tests := []struct {
		name     string
		log      string
		wantKind string
		wantErr  string
	}{
		{"one line", `{"kind":"dns","node":"n1","result":{}}`, "dns", ""},
		{"warnings first", "W1122 warning: something\n{\"kind\":\"probe\"}\n", "probe", ""},
		{"no response", "panic: boom\n", "", `no agent response in the pod log (log ends "panic: boom")`},
		{"json without kind", `{"foo":1}`, "", "no agent response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLog([]byte(tt.log))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Kind != tt.wantKind {
				t.Errorf("ParseLog = %+v, %v; want kind %q", got, err, tt.wantKind)
			}
		})
	}
}

func TestDefaultImage(t *testing.T) {
	for _, tt := range []struct{ version, want string }{
		{"dev", "ghcr.io/netdoctor/netdoctor:latest"},
		{"", "ghcr.io/netdoctor/netdoctor:latest"},
		{"v0.3.1", "ghcr.io/netdoctor/netdoctor:v0.3.1"},
	} {
		if got := DefaultImage(tt.version); got != tt.want {
			t.Errorf("DefaultImage(%q) = %q, want %q", tt.version, got, tt.want)
		}
	}
}

// An interrupted namespace Create may still have made the namespace: Close
// removes it when it carries this run's id.
func TestCloseRemovesNamespaceOfInterruptedCreate(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true))
	ctx, cancel := context.WithCancel(context.Background())
	c.PrependReactor("create", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ns := a.(k8stesting.CreateAction).GetObject().(*corev1.Namespace)
		if err := c.Tracker().Create(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, ns, ""); err != nil {
			return true, nil, err
		}
		cancel()
		return true, nil, context.Canceled
	})
	r := newTestRunner(t, c, Options{})
	if _, err := r.Run(ctx, Target{Node: "n1"}, agent.Request{Kind: "probe"}); err == nil {
		t.Fatal("Run succeeded, want the interrupted create's error")
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after Close: err = %v, want NotFound", err)
	}
}

// Close keeps a netdoctor namespace while another run's pods are in it,
// and removes it once they are gone: the last run out removes it.
func TestCloseLastRunRemovesSharedNamespace(t *testing.T) {
	lbl := map[string]string{LabelManagedBy: ManagedByValue}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace, Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelRunID: "otherrun"}}}
	otherPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-otherrun-0", Namespace: DefaultNamespace, Labels: lbl}}
	c := fake.NewClientset(node("n1", nil, true), other, otherPod)
	startKubelet(t, c, func(p *corev1.Pod) *corev1.PodStatus {
		if p.Name == otherPod.Name {
			return nil
		}
		return succeeded(p)
	})
	r := newTestRunner(t, c, Options{})
	if _, err := r.Run(context.Background(), Target{Node: "n1"}, agent.Request{Kind: "probe"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace removed while another run's pod is in it: %v", err)
	}
	// the other run ends: its own Close (a Runner that used the namespace) removes it
	if err := c.CoreV1().Pods(DefaultNamespace).Delete(context.Background(), otherPod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r2 := newTestRunner(t, c, Options{RunID: "otherrun"})
	if _, err := r2.Run(context.Background(), Target{Node: "n1"}, agent.Request{Kind: "probe"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r2.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after the last run: err = %v, want NotFound", err)
	}
}

func TestCleanupDryRun(t *testing.T) {
	lbl := map[string]string{LabelManagedBy: ManagedByValue}
	c := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-a-1", Namespace: "netdoctor", Labels: lbl,
		Annotations: map[string]string{AnnotationOwner: "alice@laptop pid 42"}}})
	found, err := CleanupWith(context.Background(), c, CleanupOptions{DryRun: true})
	if err != nil || len(found) != 1 || found[0].String() != "pod/netdoctor/netdoctor-a-1" || found[0].Owner != "alice@laptop pid 42" {
		t.Fatalf("dry run = %+v, %v", found, err)
	}
	if got := agentPods(t, c); len(got) != 1 {
		t.Errorf("dry run removed the pod")
	}
}

// With only the agent namespace's Role, cluster-wide lists are forbidden:
// cleanup looks in the agent namespace.
func TestCleanupWithNamespacedRightsOnly(t *testing.T) {
	lbl := map[string]string{LabelManagedBy: ManagedByValue}
	c := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-a-1", Namespace: "tools", Labels: lbl}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-a", Namespace: "tools", Labels: lbl}},
	)
	forbidAll := func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "", errors.New("cluster-wide list not allowed"))
		}
		return false, nil, nil
	}
	c.PrependReactor("list", "pods", forbidAll)
	c.PrependReactor("list", "daemonsets", forbidAll)
	c.PrependReactor("list", "namespaces", forbidAll)
	removed, err := CleanupWith(context.Background(), c, CleanupOptions{Namespace: "tools"})
	if err != nil {
		t.Fatalf("CleanupWith: %v", err)
	}
	if len(removed) != 2 {
		t.Errorf("removed = %v, want the pod and the DaemonSet in tools", removed)
	}
}

// With only deploy/rbac-probes.yaml's namespaced rights, reading the
// namespace is forbidden: the runner uses it as it is and keeps it.
func TestRunWithNamespacedRightsOnly(t *testing.T) {
	c := fake.NewClientset(node("n1", nil, true), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace}})
	c.PrependReactor("get", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, DefaultNamespace, errors.New("no namespace rights"))
	})
	startKubelet(t, c, succeeded)
	r := newTestRunner(t, c, Options{})
	if _, err := r.Run(context.Background(), Target{Node: "n1"}, agent.Request{Kind: "probe"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	nss, _ := c.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if len(nss.Items) != 1 {
		t.Errorf("namespaces = %d, want the administrator's one kept", len(nss.Items))
	}
}
