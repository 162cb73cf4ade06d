package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func isNotFound(err error) bool      { return apierrors.IsNotFound(err) }
func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }
func sortStrings(s []string)         { sort.Strings(s) }

// imagePullReasons are container waiting reasons that mean the image will
// not arrive without a change by the user.
var imagePullReasons = map[string]bool{
	"ImagePullBackOff":    true,
	"ErrImagePull":        true,
	"InvalidImageName":    true,
	"ErrImageNeverPull":   true,
	"RegistryUnavailable": true,
}

// fatalWaitingReasons end the wait at once.
var fatalWaitingReasons = map[string]bool{
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"CrashLoopBackOff":           true,
}

// wait polls the pod until it has finished (Succeeded or Failed), cannot
// start, or ctx ends. It returns the last pod seen when finished.
func (r *Runner) wait(ctx context.Context, created *corev1.Pod) (*corev1.Pod, error) {
	pods := r.client.CoreV1().Pods(created.Namespace)
	tick := time.NewTicker(r.opts.PollInterval)
	defer tick.Stop()
	var last *corev1.Pod
	for {
		p, err := pods.Get(ctx, created.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			last = p
			if done, serr := r.judge(p); done || serr != nil {
				return p, serr
			}
		case ctx.Err() != nil:
			// fall through to the ctx check below
		case isNotFound(err):
			return nil, &StartError{Pod: created.Namespace + "/" + created.Name, Reason: "Deleted",
				Detail: "the pod disappeared before it finished (deleted by someone, or evicted)", Hint: "run again"}
		default:
			return nil, fmt.Errorf("read agent pod %s/%s: %w", created.Namespace, created.Name, err)
		}
		select {
		case <-ctx.Done():
			return nil, r.explainTimeout(created, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// judge looks at a pod's status: done when it finished, an error when it
// cannot start.
func (r *Runner) judge(p *corev1.Pod) (bool, error) {
	id := p.Namespace + "/" + p.Name
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return true, nil
	case corev1.PodFailed:
		// A failed pod whose container ran may still have printed a
		// Response (the agent reports handler errors in it): read it.
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Terminated != nil {
				return true, nil
			}
		}
		return true, &StartError{Pod: id, Reason: "Failed", Detail: strings.TrimSpace(p.Status.Reason + " " + p.Status.Message),
			Hint: failedHint(p.Status.Reason)}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			// With spec.nodeName set the scheduler is not involved, but
			// an admission webhook or a cluster without nodeName support
			// may still route through it.
			return false, &StartError{Pod: id, Reason: "Unschedulable", Detail: c.Message,
				Hint: "check --node-selector and --toleration against 'kubectl describe node'"}
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		w := cs.State.Waiting
		if w == nil || !fatalWaitingReasons[w.Reason] {
			continue
		}
		if imagePullReasons[w.Reason] {
			return false, imagePullError(id, cs.Image, w.Reason, w.Message)
		}
		return false, &StartError{Pod: id, Reason: w.Reason, Detail: w.Message,
			Hint: "see 'kubectl -n " + p.Namespace + " describe pod " + p.Name + "'"}
	}
	return false, nil
}

func imagePullError(pod, image, reason, msg string) *StartError {
	detail := reason
	if image != "" {
		detail = reason + " for image " + image
	}
	if msg != "" {
		detail += ": " + msg
	}
	return &StartError{Pod: pod, Reason: "ImagePull", Detail: detail,
		Hint: "the node cannot pull the agent image: for a private or air-gapped registry, mirror it and pass --image REGISTRY/netdoctor:TAG, with --image-pull-secret NAME (a docker-registry secret in the agent namespace) when the registry needs credentials"}
}

func failedHint(reason string) string {
	switch reason {
	case "DeadlineExceeded":
		return "the agent did not finish within activeDeadlineSeconds; raise --timeout"
	case "NodeAffinity", "NodeSelectorMismatching":
		return "the node's labels do not match the pod's node selector; check --node-selector"
	case "OutOfcpu", "OutOfmemory", "OutOfpods":
		return "the node has no room for the agent pod; pick another node or free capacity"
	case "Evicted":
		return "the node evicted the pod (resource pressure)"
	}
	return ""
}

// explainTimeout says why a pod had not finished when ctx ended.
func (r *Runner) explainTimeout(created, last *corev1.Pod, cause error) error {
	id := created.Namespace + "/" + created.Name
	if errors.Is(cause, context.Canceled) {
		return fmt.Errorf("agent pod %s: interrupted: %w", id, cause)
	}
	detail := "no status from the node"
	hint := "the node did not start the pod: check that it is Ready and its kubelet is running ('kubectl describe node " + created.Spec.NodeName + "')"
	if last != nil {
		detail = "phase " + string(last.Status.Phase)
		for _, cs := range last.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				if imagePullReasons[w.Reason] {
					se := imagePullError(id, cs.Image, w.Reason, w.Message)
					se.Detail = "timed out after " + r.opts.Timeout.String() + " waiting: " + se.Detail
					return se
				}
				detail += ", container waiting: " + w.Reason
				if w.Message != "" {
					detail += ": " + w.Message
				}
			}
			if cs.State.Running != nil {
				detail += ", container running"
				hint = "the agent did not finish in time; raise --timeout or look at 'kubectl -n " + created.Namespace + " logs " + created.Name + "'"
			}
		}
		for _, c := range last.Status.Conditions {
			if c.Status == corev1.ConditionFalse && c.Message != "" {
				detail += "; " + string(c.Type) + ": " + c.Message
			}
		}
	}
	if ev := r.lastWarning(created); ev != "" {
		detail += "; last event: " + ev
	}
	return &StartError{Pod: id, Reason: "Timeout", Detail: "timed out after " + r.opts.Timeout.String() + " (" + detail + ")", Hint: hint}
}

// lastWarning returns the newest Warning event about the pod, if any.
func (r *Runner) lastWarning(pod *corev1.Pod) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := r.client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name})
	if err != nil {
		return ""
	}
	var best *corev1.Event
	for i := range evs.Items {
		e := &evs.Items[i]
		if e.InvolvedObject.Name != pod.Name || e.Type != corev1.EventTypeWarning {
			continue
		}
		if best == nil || e.LastTimestamp.After(best.LastTimestamp.Time) {
			best = e
		}
	}
	if best == nil {
		return ""
	}
	return best.Reason + ": " + best.Message
}

// explainCreate turns a pod Create error into a StartError naming the cause.
func explainCreate(pod *corev1.Pod, err error) error {
	id := pod.Namespace + "/" + pod.Name
	msg := err.Error()
	switch {
	case strings.Contains(msg, "violates PodSecurity"):
		return &StartError{Pod: id, Reason: "Admission", Detail: "denied by Pod Security Admission: " + msg,
			Hint: "the node view needs a privileged pod: use the netdoctor namespace (labelled pod-security.kubernetes.io/enforce=privileged) with --agent-namespace, or label yours so"}
	case apierrors.IsForbidden(err) && strings.Contains(msg, "admission webhook"):
		return &StartError{Pod: id, Reason: "Admission", Detail: "denied by an admission webhook: " + msg,
			Hint: "a policy engine (Gatekeeper, Kyverno, Azure Policy) refused the agent pod: exempt the agent namespace or its labels app.kubernetes.io/managed-by=netdoctor"}
	case apierrors.IsNotFound(err):
		return &StartError{Pod: id, Reason: "NoNamespace", Detail: msg,
			Hint: "the agent namespace does not exist and netdoctor may not create it: apply deploy/rbac-probes.yaml, which creates it (see docs/agent.md)"}
	case apierrors.IsForbidden(err):
		return &StartError{Pod: id, Reason: "Forbidden", Detail: msg,
			Hint: "your account may not create pods there: apply deploy/rbac-probes.yaml (see docs/agent.md)"}
	case apierrors.IsInvalid(err):
		return &StartError{Pod: id, Reason: "Invalid", Detail: msg}
	}
	return fmt.Errorf("create agent pod %s: %w", id, err)
}

func explainForbidden(err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w (apply deploy/rbac-probes.yaml, see docs/agent.md)", err)
	}
	return err
}
