package dns

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// ownerOf names the workload a pod belongs to: its controller (the
// ReplicaSet's name without its hash stands for the Deployment), else the pod.
func ownerOf(p *corev1.Pod) finding.Subject {
	if c := metav1.GetControllerOf(p); c != nil {
		name, kind := c.Name, c.Kind
		if kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" && strings.HasSuffix(name, "-"+h) {
				name, kind = strings.TrimSuffix(name, "-"+h), "Deployment"
			}
		}
		return finding.Subject{Kind: kind, Namespace: p.Namespace, Name: name}
	}
	return finding.Subject{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
}

// skipNamespace is true for namespaces whose pods run DNS themselves or are
// netdoctor's own.
func skipNamespace(ns string) bool {
	return ns == metav1.NamespaceSystem || ns == "netdoctor"
}

// PodDNS checks pods' dnsPolicy and dnsConfig for settings that bypass
// cluster DNS (DNS010): hostNetwork pods with ClusterFirst (they get the
// node's resolv.conf), dnsPolicy Default, and dnsPolicy None whose
// nameservers leave out kube-dns. kube-system is not checked: CoreDNS and
// NodeLocal DNS must not use cluster DNS.
func PodDNS(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	const check = "dns/pod-dns-settings"
	if reason, skipped := s.Skipped("pods"); skipped {
		r.Check(check, finding.Skipped, "pods could not be collected: "+reason)
		return r
	}
	dnsIP, _ := kubeDNSIP(s)
	type hit struct {
		subject finding.Subject
		what    string
		sev     finding.Severity
		pods    []string
	}
	hits := map[string]*hit{}
	for i := range s.Pods {
		p := &s.Pods[i]
		if skipNamespace(p.Namespace) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		var what string
		sev := finding.Info
		policy := p.Spec.DNSPolicy
		if policy == "" {
			policy = corev1.DNSClusterFirst
		}
		switch {
		case p.Spec.HostNetwork && policy == corev1.DNSClusterFirst:
			what = "hostNetwork with dnsPolicy ClusterFirst: the pod gets the node's resolv.conf and cannot resolve Service names (ClusterFirstWithHostNet is needed)"
			sev = finding.Warning
		case policy == corev1.DNSDefault && !p.Spec.HostNetwork:
			what = "dnsPolicy Default: the pod uses the node's resolv.conf, not cluster DNS, and cannot resolve Service names"
		case policy == corev1.DNSNone:
			var ns []string
			if p.Spec.DNSConfig != nil {
				ns = p.Spec.DNSConfig.Nameservers
			}
			if dnsIP != "" && !contains(ns, dnsIP) {
				what = fmt.Sprintf("dnsPolicy None with nameservers [%s]: the kube-dns ClusterIP %s is not among them, so Service names do not resolve", strings.Join(ns, " "), dnsIP)
			}
		}
		if what == "" {
			continue
		}
		o := ownerOf(p)
		k := o.String() + "|" + what
		h := hits[k]
		if h == nil {
			h = &hit{subject: o, what: what, sev: sev}
			hits[k] = h
		}
		h.pods = append(h.pods, p.Name)
	}
	keys := make([]string, 0, len(hits))
	for k := range hits {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := hits[k]
		sort.Strings(h.pods)
		spec := ".spec.template.spec"
		if h.subject.Kind == "Pod" {
			spec = ".spec"
		}
		r.Add(finding.Finding{
			Code: "DNS010", Severity: h.sev, Subjects: []finding.Subject{h.subject},
			Title:       fmt.Sprintf("%s %s/%s does not use cluster DNS", h.subject.Kind, h.subject.Namespace, h.subject.Name),
			Evidence:    []string{h.what, "pods: " + strings.Join(firstN(h.pods, 5), ", ") + more(len(h.pods), 5)},
			Explanation: "Whether a pod's queries go to cluster DNS is decided by dnsPolicy and dnsConfig, not by the network. If this workload only needs external names this is intended; if it needs Service names, its lookups fail or go to the wrong server.",
			Remediation: []string{fmt.Sprintf("kubectl -n %s get %s %s -o jsonpath='{%s.dnsPolicy}{\"\\n\"}{%s.dnsConfig}'", h.subject.Namespace, strings.ToLower(h.subject.Kind), h.subject.Name, spec, spec)},
		})
	}
	if len(hits) == 0 {
		r.Check(check, finding.Passed, "every pod outside kube-system uses cluster DNS")
	} else {
		r.Check(check, finding.Failed, fmt.Sprintf("%d workload(s) bypass cluster DNS", len(hits)))
	}
	return r
}
