// Package runner runs netdoctor's agent inside the cluster: it creates a
// labelled, short-lived pod (one per node, with bounded concurrency across
// nodes), waits for it, reads the agent's JSON result from the pod's log, and
// always deletes what it created: on success, failure, timeout and when the
// caller's context is cancelled (Ctrl-C).
//
// Typical use:
//
//	r := runner.New(client, opts)
//	defer r.Close(context.Background()) // removes the namespace if r created it
//	resp, err := r.Run(ctx, runner.Target{Node: "aks-node-0", HostNetwork: true}, req)
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/agent"
)

// Labels and annotations on everything netdoctor creates in a cluster.
const (
	// LabelManagedBy marks every object netdoctor creates; Cleanup selects on it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "netdoctor"
	// LabelName names the component.
	LabelName = "app.kubernetes.io/name"
	// LabelRunID groups the objects of one netdoctor invocation.
	LabelRunID = "netdoctor.io/run-id"
	// AnnotationOwner records who created the object (user@host, pid).
	AnnotationOwner = "netdoctor.io/owner"
	// AnnotationRequestKind records the agent request kind.
	AnnotationRequestKind = "netdoctor.io/request-kind"
	// ContainerName is the agent container's name.
	ContainerName = "agent"
	// DefaultNamespace is the namespace netdoctor runs its pods in.
	DefaultNamespace = "netdoctor"
	// DefaultTimeout bounds one agent run (start, work, result).
	DefaultTimeout = 2 * time.Minute
	// DefaultMaxParallel bounds how many agent pods RunAll runs at once.
	DefaultMaxParallel = 10
	// deleteTimeout bounds every clean-up call, on a fresh context.
	deleteTimeout = 15 * time.Second
)

// DefaultImage is the agent image for a netdoctor version: the release tag,
// or "latest" for a development build.
func DefaultImage(version string) string {
	tag := version
	if tag == "" || tag == "dev" || strings.Contains(tag, "devel") {
		tag = "latest"
	}
	return "ghcr.io/netdoctor/netdoctor:" + tag
}

// Options configures where and how agent pods run.
type Options struct {
	// Namespace holds the agent pods (DefaultNamespace when empty). It is
	// created when missing and removed by Close when this Runner created it.
	Namespace string
	// Image is the agent image (DefaultImage("dev") when empty).
	Image string
	// ImagePullSecrets name secrets in Namespace for a private registry.
	ImagePullSecrets []string
	// NodeSelector restricts the nodes RunAll uses and the node Run picks
	// when Target.Node is empty.
	NodeSelector map[string]string
	// Tolerations of the agent pod. When empty the pod tolerates every taint
	// (like kube-proxy), so it can look at tainted and cordoned nodes.
	Tolerations []corev1.Toleration
	// Timeout bounds one run from creation to result (DefaultTimeout when 0).
	Timeout time.Duration
	// MaxParallel bounds the agent pods RunAll runs at once.
	MaxParallel int
	// RunID labels this invocation's objects (random when empty).
	RunID string
	// Owner is recorded in the owner annotation (e.g. "alice@laptop pid 42").
	Owner string
	// PollInterval is how often pod status is read (1s when 0).
	PollInterval time.Duration
}

// Target says where one agent run happens.
type Target struct {
	// Node is the node to run on; empty picks a ready Linux node matching
	// Options.NodeSelector (or, with BesidePod, that pod's node).
	Node string
	// HostNetwork runs the node view: hostNetwork, hostPID and privileged,
	// so the agent sees the node's network namespace and can enter the
	// host's other namespaces.
	HostNetwork bool
	// BesidePod ("namespace/name"), when set, runs an ordinary pod in that
	// pod's namespace, on its node, with its dnsPolicy and dnsConfig, so the
	// agent sees the network the way that pod does.
	BesidePod string
}

// Runner creates agent pods and reads their results.
type Runner struct {
	client kubernetes.Interface
	opts   Options
	seq    atomic.Int64

	// readLog reads the agent container's log; the API server's pods/log
	// unless a test swaps it (client-go's fake clientset has fixed logs).
	readLog func(ctx context.Context, namespace, name string) ([]byte, error)

	mu sync.Mutex
	// usedNS is set once this Runner put (or tried to put) pods in its
	// namespace; Close then removes the namespace if it is netdoctor's
	// and empty.
	usedNS bool
}

// New returns a Runner. It does not contact the cluster.
func New(client kubernetes.Interface, opts Options) *Runner {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Image == "" {
		opts.Image = DefaultImage("dev")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxParallel <= 0 {
		opts.MaxParallel = DefaultMaxParallel
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.RunID == "" {
		opts.RunID = NewRunID()
	}
	if opts.Owner == "" {
		opts.Owner = "netdoctor"
	}
	r := &Runner{client: client, opts: opts}
	r.readLog = func(ctx context.Context, ns, name string) ([]byte, error) {
		return client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: ContainerName}).DoRaw(ctx)
	}
	return r
}

// NewRunID returns a random run id: 8 lowercase hex digits.
func NewRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff)
	}
	return hex.EncodeToString(b[:])
}

// RunID returns the id that labels this Runner's objects.
func (r *Runner) RunID() string { return r.opts.RunID }

// Options returns the Runner's options with defaults filled in.
func (r *Runner) Options() Options { return r.opts }

// NodeError is a failure to run the agent on one node.
type NodeError struct {
	Node string
	Err  error
}

// Error implements error.
func (e *NodeError) Error() string { return "node " + e.Node + ": " + e.Err.Error() }

// Unwrap returns the node's error.
func (e *NodeError) Unwrap() error { return e.Err }

// ErrSkipped marks a node RunAll did not try (Windows, not ready).
var ErrSkipped = errors.New("skipped")

// StartError explains why an agent pod did not start or finish.
type StartError struct {
	// Pod is namespace/name of the agent pod.
	Pod string
	// Reason is a short cause: Unschedulable, ImagePull, Admission,
	// Forbidden, Timeout, Failed.
	Reason string
	// Detail is what the cluster said.
	Detail string
	// Hint says what to do about it.
	Hint string
}

// Error says what happened and what to do.
func (e *StartError) Error() string {
	s := "agent pod " + e.Pod + ": " + e.Reason
	if e.Pod == "" || e.Pod == "-" || strings.HasSuffix(e.Pod, "/-") {
		s = "agent: " + e.Reason
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Run runs one agent request at the target and returns the agent's response.
// err reports a failure to run the agent (the pod could not be created,
// started, or gave no result); resp.Error reports the handler's own failure.
// The pod is deleted before Run returns, whatever happened.
func (r *Runner) Run(ctx context.Context, t Target, req agent.Request) (agent.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()

	pod, err := r.podFor(ctx, t, req)
	if err != nil {
		return agent.Response{}, err
	}
	if pod.Namespace == r.opts.Namespace {
		if err := r.ensureNamespace(ctx); err != nil {
			return agent.Response{}, err
		}
	}
	// Deletion is by name on a fresh context, so it happens even when ctx is
	// cancelled and even when Create was interrupted after the API server
	// stored the pod.
	defer func() {
		if derr := r.deletePod(pod.Namespace, pod.Name); derr != nil && err == nil {
			err = derr
		}
	}()
	_, err = r.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil && pod.Namespace == r.opts.Namespace && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// Another run removed the namespace between our check and our
		// create: wait for it to go, make it again, try once more.
		if err = r.ensureNamespace(ctx); err != nil {
			return agent.Response{}, err
		}
		_, err = r.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	}
	if err != nil {
		return agent.Response{}, explainCreate(pod, err)
	}
	final, err := r.wait(ctx, pod)
	if err != nil {
		return agent.Response{}, err
	}
	resp, err := r.readResult(ctx, final)
	return resp, err
}

// RunAll runs the request once on every Linux node matching
// Options.NodeSelector, at most Options.MaxParallel at a time. It returns
// the responses that arrived and one *NodeError per node that gave none
// (Windows and not-ready nodes wrap ErrSkipped).
func (r *Runner) RunAll(ctx context.Context, hostNetwork bool, req agent.Request) ([]agent.Response, []error) {
	nodes, err := r.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selectorString(r.opts.NodeSelector)})
	if err != nil {
		return nil, []error{fmt.Errorf("list nodes: %w", err)}
	}
	if len(nodes.Items) == 0 {
		return nil, []error{noNodeError(r.opts.NodeSelector)}
	}
	var (
		mu    sync.Mutex
		resps []agent.Response
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, r.opts.MaxParallel)
	)
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if why := unusable(n); why != "" {
			errs = append(errs, &NodeError{Node: n.Name, Err: fmt.Errorf("%w: %s", ErrSkipped, why)})
			continue
		}
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, &NodeError{Node: name, Err: ctx.Err()})
				mu.Unlock()
				return
			}
			resp, err := r.Run(ctx, Target{Node: name, HostNetwork: hostNetwork}, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, &NodeError{Node: name, Err: err})
				return
			}
			if resp.Node == "" {
				resp.Node = name
			}
			resps = append(resps, resp)
		}(n.Name)
	}
	wg.Wait()
	return resps, errs
}

// Close removes the agent namespace when netdoctor created it (it carries
// the managed-by label; a namespace made by an administrator is kept) and
// no netdoctor pod runs there any more: the last run to finish removes it,
// whichever run created it. It uses its own short timeout, so it may be
// called with a cancelled context.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	used := r.usedNS
	r.usedNS = false
	r.mu.Unlock()
	if !used {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	ns, err := r.client.CoreV1().Namespaces().Get(dctx, r.opts.Namespace, metav1.GetOptions{})
	switch {
	case isNotFound(err):
		return nil
	case apierrors.IsForbidden(err):
		return nil // namespaced rights only: the namespace is an administrator's
	case err != nil:
		return fmt.Errorf("read namespace %s (run 'netdoctor cleanup' later): %w", r.opts.Namespace, err)
	case ns.Labels[LabelManagedBy] != ManagedByValue || ns.DeletionTimestamp != nil:
		return nil
	}
	pods, err := r.client.CoreV1().Pods(r.opts.Namespace).List(dctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue})
	if err != nil || len(pods.Items) > 0 {
		// another netdoctor run still uses it and removes it when done
		return nil
	}
	err = r.client.CoreV1().Namespaces().Delete(dctx, r.opts.Namespace, metav1.DeleteOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete namespace %s (run 'netdoctor cleanup' to retry): %w", r.opts.Namespace, err)
	}
	return nil
}

// podFor builds the agent pod for a target.
func (r *Runner) podFor(ctx context.Context, t Target, req agent.Request) (*corev1.Pod, error) {
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode agent request: %w", err)
	}
	ns := r.opts.Namespace
	node := t.Node
	var dnsPolicy corev1.DNSPolicy
	var dnsConfig *corev1.PodDNSConfig
	if t.BesidePod != "" {
		pns, pname, ok := strings.Cut(t.BesidePod, "/")
		if !ok || pns == "" || pname == "" {
			return nil, fmt.Errorf("beside pod %q: want namespace/name", t.BesidePod)
		}
		p, err := r.client.CoreV1().Pods(pns).Get(ctx, pname, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get pod %s: %w", t.BesidePod, err)
		}
		ns = pns
		if node == "" {
			node = p.Spec.NodeName
		}
		dnsPolicy = p.Spec.DNSPolicy
		if p.Spec.DNSConfig != nil {
			dnsConfig = p.Spec.DNSConfig.DeepCopy()
		}
		if node == "" {
			return nil, fmt.Errorf("pod %s is not scheduled to a node yet", t.BesidePod)
		}
	}
	if node == "" {
		node, err = r.pickNode(ctx)
		if err != nil {
			return nil, err
		}
	} else {
		n, err := r.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			if isNotFound(err) {
				return nil, &StartError{Pod: ns + "/-", Reason: "Unschedulable", Detail: "node " + node + " does not exist", Hint: "see 'kubectl get nodes'"}
			}
			return nil, fmt.Errorf("get node %s: %w", node, err)
		}
		if isWindows(n) {
			return nil, fmt.Errorf("node %s: %w: Windows node (netdoctor's agent image is Linux only)", node, ErrSkipped)
		}
	}

	seq := r.seq.Add(1)
	name := fmt.Sprintf("netdoctor-%s-%d", r.opts.RunID, seq)
	var deadline int64 = int64(r.opts.Timeout/time.Second) + 30
	falseV, trueV := false, true
	tolerations := r.opts.Tolerations
	if len(tolerations) == 0 {
		tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	var pullSecrets []corev1.LocalObjectReference
	for _, s := range r.opts.ImagePullSecrets {
		pullSecrets = append(pullSecrets, corev1.LocalObjectReference{Name: s})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ns,
			Labels: map[string]string{
				LabelManagedBy: ManagedByValue,
				LabelName:      "netdoctor-agent",
				LabelRunID:     r.opts.RunID,
			},
			Annotations: map[string]string{
				AnnotationOwner:       r.opts.Owner,
				AnnotationRequestKind: req.Kind,
			},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: new(int64),
			AutomountServiceAccountToken:  &falseV,
			EnableServiceLinks:            &falseV,
			Tolerations:                   tolerations,
			ImagePullSecrets:              pullSecrets,
			DNSPolicy:                     dnsPolicy,
			DNSConfig:                     dnsConfig,
			NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
			Containers: []corev1.Container{{
				Name:    ContainerName,
				Image:   r.opts.Image,
				Command: []string{"netdoctor"},
				Args:    []string{"agent", "--request", string(reqJSON)},
				Env: []corev1.EnvVar{{
					Name:      "NODE_NAME",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
				}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("32Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceMemory: resource.MustParse("256Mi"),
					},
				},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
	if t.HostNetwork {
		pod.Spec.HostNetwork = true
		pod.Spec.HostPID = true
		pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &trueV}
	}
	return pod, nil
}

// pickNode chooses a ready Linux node matching the node selector.
func (r *Runner) pickNode(ctx context.Context) (string, error) {
	nodes, err := r.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selectorString(r.opts.NodeSelector)})
	if err != nil {
		return "", fmt.Errorf("list nodes: %w", err)
	}
	var why []string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if reason := unusable(n); reason != "" {
			why = append(why, n.Name+": "+reason)
			continue
		}
		return n.Name, nil
	}
	if len(nodes.Items) == 0 {
		return "", noNodeError(r.opts.NodeSelector)
	}
	return "", &StartError{Pod: r.opts.Namespace + "/-", Reason: "Unschedulable", Detail: "no usable node: " + strings.Join(why, "; "), Hint: "name a node or change --node-selector"}
}

func noNodeError(sel map[string]string) error {
	if len(sel) == 0 {
		return &StartError{Pod: "-", Reason: "Unschedulable", Detail: "the cluster has no nodes"}
	}
	return &StartError{Pod: "-", Reason: "Unschedulable", Detail: "no node matches --node-selector " + selectorString(sel), Hint: "check the labels with 'kubectl get nodes --show-labels'"}
}

// unusable says why the agent cannot run on a node, or "".
func unusable(n *corev1.Node) string {
	if isWindows(n) {
		return "Windows node (netdoctor's agent image is Linux only)"
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			return "node is not Ready (" + c.Reason + ")"
		}
	}
	return ""
}

func isWindows(n *corev1.Node) bool {
	if os := n.Labels["kubernetes.io/os"]; os != "" {
		return os == "windows"
	}
	return n.Labels["beta.kubernetes.io/os"] == "windows" || n.Status.NodeInfo.OperatingSystem == "windows"
}

// ensureNamespace creates the agent namespace when it is missing.
func (r *Runner) ensureNamespace(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.usedNS = true
	nsc := r.client.CoreV1().Namespaces()
	ns, err := nsc.Get(ctx, r.opts.Namespace, metav1.GetOptions{})
	// An earlier run's namespace may still be terminating: wait for it.
	for err == nil && ns.DeletionTimestamp != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s is still being deleted (by an earlier run): %w", r.opts.Namespace, ctx.Err())
		case <-time.After(r.opts.PollInterval):
		}
		ns, err = nsc.Get(ctx, r.opts.Namespace, metav1.GetOptions{})
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		// Only namespaced rights (deploy/rbac-probes.yaml, whose namespace
		// an administrator made): use it; creating the pod says if it is
		// missing.
		return nil
	case !isNotFound(err):
		return fmt.Errorf("get namespace %s: %w", r.opts.Namespace, err)
	}
	_, err = nsc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: r.opts.Namespace,
		Labels: map[string]string{
			LabelManagedBy: ManagedByValue,
			LabelRunID:     r.opts.RunID,
			// node-view pods are privileged; the namespace says so for
			// Pod Security Admission.
			"pod-security.kubernetes.io/enforce": "privileged",
		},
		Annotations: map[string]string{AnnotationOwner: r.opts.Owner},
	}}, metav1.CreateOptions{})
	switch {
	case err == nil, isAlreadyExists(err):
	case ctx.Err() != nil:
		// Interrupted: the API server may have created it anyway; Close
		// removes it.
		return fmt.Errorf("create namespace %s: %w", r.opts.Namespace, err)
	default:
		return explainForbidden(fmt.Errorf("create namespace %s: %w", r.opts.Namespace, err))
	}
	return nil
}

// deletePod deletes a pod by name on a fresh, short context.
func (r *Runner) deletePod(ns, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	var grace int64
	bg := metav1.DeletePropagationBackground
	err := r.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: &bg})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete agent pod %s/%s (run 'netdoctor cleanup' to retry): %w", ns, name, err)
	}
	return nil
}

// readResult reads the agent's Response from the pod's log: the last line
// that parses as a Response.
func (r *Runner) readResult(ctx context.Context, pod *corev1.Pod) (agent.Response, error) {
	raw, err := r.readLog(ctx, pod.Namespace, pod.Name)
	if err != nil {
		return agent.Response{}, fmt.Errorf("read agent log of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	resp, err := ParseLog(raw)
	if err != nil {
		detail := err.Error()
		if pod.Status.Phase == corev1.PodFailed {
			detail = "the agent failed: " + terminationMessage(pod) + "; " + detail
		}
		return agent.Response{}, fmt.Errorf("agent pod %s/%s: %s", pod.Namespace, pod.Name, detail)
	}
	if resp.Node == "" {
		resp.Node = pod.Spec.NodeName
	}
	return resp, nil
}

// ParseLog finds the agent's Response in a pod log: the last line that is a
// JSON object with a "kind". Other lines (warnings) are ignored.
func ParseLog(log []byte) (agent.Response, error) {
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var resp agent.Response
		if err := json.Unmarshal([]byte(line), &resp); err == nil && resp.Kind != "" {
			return resp, nil
		}
	}
	const max = 200
	s := strings.TrimSpace(string(log))
	if len(s) > max {
		s = s[len(s)-max:]
	}
	return agent.Response{}, fmt.Errorf("no agent response in the pod log (log ends %q)", s)
}

func terminationMessage(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			msg := fmt.Sprintf("exit code %d", t.ExitCode)
			if t.Reason != "" {
				msg += " (" + t.Reason + ")"
			}
			if m := strings.TrimSpace(t.Message); m != "" {
				msg += ": " + m
			}
			return msg
		}
	}
	if pod.Status.Reason != "" {
		return pod.Status.Reason + ": " + pod.Status.Message
	}
	return "phase Failed"
}

func selectorString(sel map[string]string) string {
	if len(sel) == 0 {
		return ""
	}
	parts := make([]string, 0, len(sel))
	for k, v := range sel {
		parts = append(parts, k+"="+v)
	}
	sortStrings(parts)
	return strings.Join(parts, ",")
}
