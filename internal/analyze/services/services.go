// Package services analyzes Services: selectors that match nothing (SVC001),
// backends that are not ready (SVC002), target ports the pods do not expose
// (SVC003), and LoadBalancer Services without an external IP (LB001).
package services

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/analyze/podstate"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// maxPodsShown bounds the pods listed as evidence for one Service.
const maxPodsShown = 5

// Backends checks that every Service with a selector has ready pods that
// expose its target ports (SVC001, SVC002, SVC003).
func Backends(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	const check = "services/backends"
	if reason, skipped := s.Skipped("services"); skipped {
		r.Check(check, finding.Skipped, "Services could not be collected: "+reason)
		return r
	}
	if reason, skipped := s.Skipped("pods"); skipped {
		r.Check(check, finding.Skipped, "pods could not be collected: "+reason)
		return r
	}
	ix := s.Index()
	failed := 0
	for i := range s.Services {
		svc := &s.Services[i]
		if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
			continue // endpoints are managed by hand or there are none to manage
		}
		subj := []finding.Subject{{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}}
		pods := ix.SelectPods(svc.Namespace, svc.Spec.Selector)
		pods = withoutFinished(pods)
		if len(pods) == 0 {
			failed++
			r.Add(noPodsFinding(s, svc, subj))
			continue
		}
		var ready []*corev1.Pod
		for _, p := range pods {
			if podstate.Ready(p) || (svc.Spec.PublishNotReadyAddresses && p.Status.PodIP != "") {
				ready = append(ready, p)
			}
		}
		if len(ready) == 0 {
			failed++
			r.Add(notReadyFinding(svc, subj, pods))
			continue
		}
		for _, f := range targetPortFindings(svc, subj, pods) {
			failed++
			r.Add(f)
		}
	}
	if failed > 0 {
		r.Check(check, finding.Failed, fmt.Sprintf("%d Service problems", failed))
	} else {
		r.Check(check, finding.Passed, "")
	}
	return r
}

func withoutFinished(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func noPodsFinding(s *snapshot.Snapshot, svc *corev1.Service, subj []finding.Subject) finding.Finding {
	sel := snapshot.SelectorString(svc.Spec.Selector)
	ev := []string{
		fmt.Sprintf("spec.selector is %s", sel),
		fmt.Sprintf("no running pod in namespace %s has all of these labels", svc.Namespace),
	}
	if near := nearMisses(s, svc); near != "" {
		ev = append(ev, near)
	}
	return finding.Finding{
		Code:     "SVC001",
		Severity: finding.Critical,
		Title:    fmt.Sprintf("Service %s/%s selects no pod", svc.Namespace, svc.Name),
		Subjects: subj,
		Evidence: ev,
		Explanation: "A Service with a selector gets its endpoints from the pods that match it. None match, so the Service has no endpoints: " +
			"kube-proxy installs a REJECT rule for its ClusterIP and connections fail at once with 'connection refused' (or time out through a load balancer).",
		Remediation: []string{
			fmt.Sprintf("kubectl get pods -n %s -l %s", svc.Namespace, sel),
			fmt.Sprintf("kubectl get pods -n %s --show-labels", svc.Namespace),
			fmt.Sprintf("kubectl edit service -n %s %s   # make spec.selector match the pod template's labels", svc.Namespace, svc.Name),
		},
	}
}

// nearMisses names pods that match all but one selector label: the usual
// typo or renamed label.
func nearMisses(s *snapshot.Snapshot, svc *corev1.Service) string {
	ix := s.Index()
	if len(svc.Spec.Selector) == 1 {
		for k, want := range svc.Spec.Selector {
			var hints []string
			values := ix.LabelValues(svc.Namespace, k)
			// The likeliest typo first.
			sort.SliceStable(values, func(i, j int) bool { return distance(values[i].Value, want) < distance(values[j].Value, want) })
			for _, lv := range values {
				if lv.Value != want && len(hints) < 3 {
					hints = append(hints, fmt.Sprintf("%s=%s (%d pod(s), e.g. %s)", k, lv.Value, lv.Pods, lv.Example))
				}
			}
			if len(hints) > 0 {
				return "pods in the namespace carry " + strings.Join(hints, ", ") + ", not " + k + "=" + want
			}
		}
		return ""
	}
	var hints []string
	for k := range svc.Spec.Selector {
		rest := map[string]string{}
		for k2, v2 := range svc.Spec.Selector {
			if k2 != k {
				rest[k2] = v2
			}
		}
		pods := ix.SelectPods(svc.Namespace, rest)
		if len(pods) == 0 {
			continue
		}
		got := pods[0].Labels[k]
		if got == "" {
			got = "(absent)"
		}
		hints = append(hints, fmt.Sprintf("%d pod(s) such as %s match every label but %s=%s (they have %s=%s)", len(pods), pods[0].Name, k, svc.Spec.Selector[k], k, got))
	}
	sort.Strings(hints)
	return strings.Join(hints, "; ")
}

func notReadyFinding(svc *corev1.Service, subj []finding.Subject, pods []*corev1.Pod) finding.Finding {
	ev := []string{fmt.Sprintf("%d pod(s) match selector %s; none is ready", len(pods), snapshot.SelectorString(svc.Spec.Selector))}
	crash := false
	for i, p := range pods {
		if i == maxPodsShown {
			ev = append(ev, fmt.Sprintf("... and %d more", len(pods)-maxPodsShown))
			break
		}
		where := ""
		if p.Spec.NodeName != "" {
			where = " on node " + p.Spec.NodeName
		}
		ev = append(ev, fmt.Sprintf("pod %s%s: %s", p.Name, where, podstate.Why(p)))
		crash = crash || podstate.CrashLooping(p)
	}
	rem := []string{fmt.Sprintf("kubectl describe pod -n %s %s", svc.Namespace, pods[0].Name)}
	if crash {
		rem = append(rem, fmt.Sprintf("kubectl logs -n %s %s --previous", svc.Namespace, pods[0].Name))
	}
	return finding.Finding{
		Code:     "SVC002",
		Severity: finding.Critical,
		Title:    fmt.Sprintf("Service %s/%s has pods but none is ready", svc.Namespace, svc.Name),
		Subjects: subj,
		Evidence: ev,
		Explanation: "Only ready pods become ready endpoints. With none, kube-proxy rejects connections to the Service: " +
			"the network is fine, the backends are not. Fix the pods (why each is not ready is listed above).",
		Remediation: rem,
	}
}

// targetPortFindings reports Service ports whose targetPort no selected
// pod exposes.
func targetPortFindings(svc *corev1.Service, subj []finding.Subject, pods []*corev1.Pod) []finding.Finding {
	var out []finding.Finding
	for _, sp := range svc.Spec.Ports {
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		tp := sp.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(sp.Port)
		}
		declared := 0
		exposed := false
		var names []string
		for _, p := range pods {
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					cpProto := cp.Protocol
					if cpProto == "" {
						cpProto = corev1.ProtocolTCP
					}
					declared++
					if cpProto != proto {
						continue
					}
					if tp.Type == intstr.String && cp.Name == tp.StrVal || tp.Type == intstr.Int && cp.ContainerPort == tp.IntVal {
						exposed = true
					}
					label := strconv.Itoa(int(cp.ContainerPort)) + "/" + string(cpProto)
					if cp.Name != "" {
						label = cp.Name + "=" + label
					}
					names = append(names, label)
				}
			}
		}
		if exposed {
			continue
		}
		portName := sp.Name
		if portName == "" {
			portName = strconv.Itoa(int(sp.Port))
		}
		names = uniqueSorted(names)
		switch {
		case tp.Type == intstr.String:
			out = append(out, finding.Finding{
				Code:     "SVC003",
				Severity: finding.Critical,
				Title:    fmt.Sprintf("Service %s/%s port %s targets port name %q that no pod declares", svc.Namespace, svc.Name, portName, tp.StrVal),
				Subjects: subj,
				Evidence: []string{
					fmt.Sprintf("spec.ports[%s].targetPort is the name %q (%s)", portName, tp.StrVal, proto),
					fmt.Sprintf("the %d selected pod(s) declare: %s", len(pods), orNone(names)),
				},
				Explanation: "A named targetPort is resolved per pod from its containers' ports. No selected pod declares that name, so the EndpointSlice has no endpoint for this port and connections to it are rejected.",
				Remediation: []string{fmt.Sprintf("kubectl edit service -n %s %s   # set targetPort to a declared containerPort name or number", svc.Namespace, svc.Name)},
			})
		case declared > 0:
			out = append(out, finding.Finding{
				Code:     "SVC003",
				Severity: finding.Warning,
				Title:    fmt.Sprintf("Service %s/%s port %s targets %d/%s, which its pods do not declare", svc.Namespace, svc.Name, portName, tp.IntVal, proto),
				Subjects: subj,
				Evidence: []string{
					fmt.Sprintf("spec.ports[%s].targetPort is %d/%s", portName, tp.IntVal, proto),
					fmt.Sprintf("the %d selected pod(s) declare: %s", len(pods), orNone(names)),
				},
				Explanation: "Traffic is sent to the targetPort on the pod IP whether or not the container declares it. If nothing listens there, clients get 'connection refused' from the pod (or a timeout for UDP). The declared ports suggest the application listens elsewhere.",
				Remediation: []string{
					fmt.Sprintf("kubectl edit service -n %s %s   # set targetPort to the port the application listens on", svc.Namespace, svc.Name),
				},
			})
		}
	}
	return out
}

func uniqueSorted(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "no ports"
	}
	return strings.Join(list, ", ")
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
