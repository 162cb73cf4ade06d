// Package podstate says whether a pod is ready and, when it is not, why, in
// the words a support engineer would use: pending and unschedulable, crash
// looping, failing its readiness probe, terminating.
package podstate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Ready reports whether the pod's Ready condition is true and it is not
// being deleted.
func Ready(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// CrashLooping reports whether a container of the pod is in CrashLoopBackOff.
func CrashLooping(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
			return true
		}
	}
	return false
}

// Why explains why a pod is not ready, in one line.
func Why(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating (being deleted)"
	}
	switch p.Status.Phase {
	case corev1.PodPending:
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return "pending: not scheduled: " + strings.TrimSpace(c.Reason+" "+c.Message)
			}
		}
		if w := waiting(p); w != "" {
			return "pending: " + w
		}
		return "pending"
	case corev1.PodFailed, corev1.PodSucceeded:
		msg := "phase " + string(p.Status.Phase)
		if p.Status.Reason != "" {
			msg += ": " + p.Status.Reason
		}
		return msg
	case corev1.PodUnknown:
		return "phase Unknown: the node's kubelet stopped reporting"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
			msg := fmt.Sprintf("container %s is crash looping (%d restarts)", cs.Name, cs.RestartCount)
			if t := cs.LastTerminationState.Terminated; t != nil {
				msg += fmt.Sprintf(", last exit code %d", t.ExitCode)
				if t.Reason != "" {
					msg += " (" + t.Reason + ")"
				}
			}
			return msg
		}
	}
	if w := waiting(p); w != "" {
		return w
	}
	var notReady []string
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			if len(notReady) > 0 {
				return fmt.Sprintf("running but not ready: container %s not ready (readiness probe failing or not yet passed)", strings.Join(notReady, ", "))
			}
			return strings.TrimSpace("running but not ready " + c.Reason + " " + c.Message)
		}
	}
	if len(notReady) > 0 {
		return "container " + strings.Join(notReady, ", ") + " not ready"
	}
	return "not ready (no Ready condition reported)"
}

func waiting(p *corev1.Pod) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			msg := fmt.Sprintf("container %s waiting: %s", cs.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + w.Message
			}
			return msg
		}
	}
	return ""
}
