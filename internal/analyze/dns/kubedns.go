package dns

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/analyze/podstate"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// KubeDNSService is the name of the cluster DNS Service in kube-system.
const KubeDNSService = "kube-dns"

// CoreDNSLabel selects the CoreDNS pods (the label kube-dns also selects on).
var CoreDNSLabel = map[string]string{"k8s-app": "kube-dns"}

// KubeDNS checks that the cluster DNS is served: the kube-dns Service
// exists, has ready endpoints, and the CoreDNS pods are ready (DNS001).
func KubeDNS(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	const check = "dns/kube-dns"
	for _, res := range []string{"services", "pods"} {
		if reason, skipped := s.Skipped(res); skipped {
			r.Check(check, finding.Skipped, res+" could not be collected: "+reason)
			return r
		}
	}
	if len(s.Services) == 0 && len(s.Pods) == 0 {
		r.Check(check, finding.Skipped, "the snapshot holds no Services and no pods: nothing to judge cluster DNS by")
		return r
	}
	ix := s.Index()
	ns := metav1.NamespaceSystem
	svc := ix.Service(ns, KubeDNSService)
	selector := CoreDNSLabel
	if svc != nil && len(svc.Spec.Selector) > 0 {
		selector = svc.Spec.Selector
	}
	pods := ix.SelectPods(ns, selector)
	var ready, broken []*corev1.Pod
	for _, p := range pods {
		if podstate.Ready(p) {
			ready = append(ready, p)
		} else if p.Status.Phase != corev1.PodSucceeded {
			broken = append(broken, p)
		}
	}
	subj := []finding.Subject{{Kind: "Service", Namespace: ns, Name: KubeDNSService}}
	var ev []string
	for _, p := range broken {
		ev = append(ev, fmt.Sprintf("CoreDNS pod %s (node %s): %s", p.Name, nodeOr(p.Spec.NodeName), podstate.Why(p)))
	}
	readyEndpoints, endpointsKnown := readyEndpointCount(s, ns, KubeDNSService)
	remediation := []string{
		"kubectl -n kube-system get svc kube-dns -o wide",
		"kubectl -n kube-system get pods -l " + snapshot.SelectorString(selector) + " -o wide",
		"kubectl -n kube-system logs -l " + snapshot.SelectorString(selector) + " --tail=50",
	}
	switch {
	case svc == nil:
		f := finding.Finding{
			Code: "DNS001", Severity: finding.Critical, Subjects: subj,
			Title:       "kube-dns Service is missing from kube-system",
			Evidence:    append([]string{"no Service kube-system/kube-dns", fmt.Sprintf("%d CoreDNS pod(s) with %s, %d ready", len(pods), snapshot.SelectorString(selector), len(ready))}, ev...),
			Explanation: "Pods with dnsPolicy ClusterFirst send every query to the kube-dns ClusterIP written in their resolv.conf. Without the Service that IP answers nothing and every lookup times out.",
			Remediation: append([]string{"kubectl -n kube-system get svc   # the addon manager (AKS) or your CoreDNS install recreates kube-dns"}, remediation[1:]...),
		}
		r.Add(f)
		r.Check(check, finding.Failed, "kube-dns Service missing")
		return r
	case len(pods) == 0:
		r.Add(finding.Finding{
			Code: "DNS001", Severity: finding.Critical, Subjects: subj,
			Title:       "No CoreDNS pods back the kube-dns Service",
			Evidence:    []string{fmt.Sprintf("no pod in kube-system matches the kube-dns selector %s", snapshot.SelectorString(selector))},
			Explanation: "The kube-dns Service has no pods to send queries to: kube-proxy rejects them and every cluster lookup fails.",
			Remediation: append([]string{"kubectl -n kube-system get deploy coredns   # scaled to zero, deleted, or its pods cannot be created"}, remediation...),
		})
		r.Check(check, finding.Failed, "no CoreDNS pods")
		return r
	case len(ready) == 0 || endpointsKnown && readyEndpoints == 0:
		if endpointsKnown {
			ev = append([]string{fmt.Sprintf("kube-dns EndpointSlices list %d ready endpoint(s)", readyEndpoints)}, ev...)
		}
		r.Add(finding.Finding{
			Code: "DNS001", Severity: finding.Critical, Subjects: subj,
			Title:       "Cluster DNS has no ready CoreDNS pod",
			Evidence:    ev,
			Explanation: "Every CoreDNS pod behind kube-dns is not ready, so kube-dns has no ready endpoints and pod DNS lookups fail cluster-wide. A CoreDNS crash loop is most often a bad Corefile (coredns or coredns-custom ConfigMap) or a forwarding loop detected by the loop plugin.",
			Remediation: append(remediation, "kubectl -n kube-system get configmap coredns coredns-custom -o yaml"),
		})
		r.Check(check, finding.Failed, "no ready CoreDNS pod")
		return r
	case len(broken) > 0:
		r.Add(finding.Finding{
			Code: "DNS001", Severity: finding.Warning, Subjects: subj,
			Title:       fmt.Sprintf("%d of %d CoreDNS pods are not ready", len(broken), len(pods)),
			Evidence:    ev,
			Explanation: "DNS still works through the ready replicas, with less capacity and no redundancy; the failing replicas usually fail for a reason that will reach the others (node problem, Corefile change, memory limit).",
			Remediation: remediation,
		})
		r.Check(check, finding.Failed, "CoreDNS pods not ready")
		return r
	}
	r.Check(check, finding.Passed, fmt.Sprintf("%d CoreDNS pod(s) ready", len(ready)))
	return r
}

// readyEndpointCount counts ready endpoints in a Service's EndpointSlices;
// known is false when EndpointSlices were not collected.
func readyEndpointCount(s *snapshot.Snapshot, ns, name string) (n int, known bool) {
	if _, skipped := s.Skipped("endpointslices"); skipped {
		return 0, false
	}
	for _, es := range s.Index().EndpointSlices(ns, name) {
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n += len(ep.Addresses)
			}
		}
	}
	return n, true
}

func nodeOr(n string) string {
	if n == "" {
		return "unscheduled"
	}
	return n
}
