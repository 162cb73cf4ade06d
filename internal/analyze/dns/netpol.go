package dns

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/netpol"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// dnsTarget is a place a pod's DNS queries go.
type dnsTarget struct {
	label string
	peer  netpol.Peer
}

// Policies checks that NetworkPolicies let pods reach DNS (DNS004). With
// NodeLocal DNS the queries are answered on the node at its link-local
// address and the kube-dns ClusterIP, which only ipBlocks match; without
// it they are DNATed to the CoreDNS pods.
func Policies(s *snapshot.Snapshot) finding.Result {
	var r finding.Result
	const check = "dns/network-policy"
	for _, res := range []string{"networkpolicies", "pods"} {
		if reason, skipped := s.Skipped(res); skipped {
			r.Check(check, finding.Skipped, res+" could not be collected: "+reason)
			return r
		}
	}
	if len(s.NetworkPolicies) == 0 {
		r.Check(check, finding.Passed, "no NetworkPolicy in the cluster")
		return r
	}
	ix := s.Index()
	dnsIP, haveIP := kubeDNSIP(s)
	nl := findNodeLocal(s)
	var targets []dnsTarget
	var corePeer *netpol.Peer
	if pods := ix.SelectPods(metav1.NamespaceSystem, CoreDNSLabel); len(pods) > 0 {
		p := netpol.PodPeer(netpol.PodFrom(pods[0]))
		corePeer = &p
	}
	if nl.InUse {
		if ip, err := netip.ParseAddr(nl.IP); err == nil {
			targets = append(targets, dnsTarget{"NodeLocal DNS " + nl.IP, netpol.IPPeer(ip)})
		}
		if ip, err := netip.ParseAddr(dnsIP); err == nil && haveIP {
			targets = append(targets, dnsTarget{"kube-dns ClusterIP " + dnsIP + " (answered by NodeLocal DNS on the node)", netpol.IPPeer(ip)})
		}
	} else {
		sel := CoreDNSLabel
		if svc := ix.Service(metav1.NamespaceSystem, KubeDNSService); svc != nil && len(svc.Spec.Selector) > 0 {
			sel = svc.Spec.Selector
		}
		pods := ix.SelectPods(metav1.NamespaceSystem, sel)
		if len(pods) == 0 {
			r.Check(check, finding.Skipped, "no CoreDNS pods to evaluate policies against (see DNS001)")
			return r
		}
		// Every CoreDNS pod carries the same labels; one stands for all.
		targets = append(targets, dnsTarget{"CoreDNS pods (" + snapshot.SelectorString(sel) + " in kube-system)", netpol.PodPeer(netpol.PodFrom(pods[0]))})
	}
	if len(targets) == 0 {
		r.Check(check, finding.Skipped, "no DNS address known (kube-dns Service missing)")
		return r
	}

	var namespaces []string
	for ns := range policyNamespaces(s) {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	ev := netpol.Evaluator{NamespaceLabels: ix.NamespaceLabels}
	blocked := 0
	for _, ns := range namespaces {
		if ns == metav1.NamespaceSystem {
			continue
		}
		policies := ix.NetworkPolicies(ns)
		type miss struct {
			target string
			proto  corev1.Protocol
		}
		var (
			affected   []string
			missing    = map[miss]bool{}
			isolating  = map[string]bool{}
			uncertain  = map[string]bool{}
			seenLabels = map[string]bool{}
			errs       []string
		)
		for _, p := range ix.PodsInNamespace(ns) {
			if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			key := labelKey(p.Labels)
			if seenLabels[key] {
				// Same labels, same verdict: count the pod, skip the work.
				if len(affected) > 0 && affectedKey(affected, key) {
					affected = append(affected, p.Name+"\x00"+key)
				}
				continue
			}
			seenLabels[key] = true
			pod := netpol.PodFrom(p)
			hit := false
			for _, t := range targets {
				for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
					v, err := ev.Evaluate(policies, netpol.Egress, pod, t.peer, proto, 53)
					if err != nil {
						errs = append(errs, err.Error())
						continue
					}
					for _, u := range v.Uncertain {
						uncertain[u] = true
					}
					if v.Allowed {
						continue
					}
					hit = true
					missing[miss{t.label, proto}] = true
					for _, name := range v.Policies {
						isolating[name] = true
					}
				}
			}
			if hit {
				affected = append(affected, p.Name+"\x00"+key)
			}
		}
		for _, e := range errs {
			r.Check(check, finding.Error, e)
		}
		if len(affected) == 0 {
			continue
		}
		blocked++
		var podNames []string
		for _, a := range affected {
			name, _, _ := strings.Cut(a, "\x00")
			podNames = append(podNames, name)
		}
		sort.Strings(podNames)
		var pols []string
		for n := range isolating {
			pols = append(pols, n)
		}
		sort.Strings(pols)
		byTarget := map[string][]string{}
		for m := range missing {
			byTarget[m.target] = append(byTarget[m.target], string(m.proto)+"/53")
		}
		var misses []string
		for _, t := range targets {
			if protos := byTarget[t.label]; len(protos) > 0 {
				sort.Sort(sort.Reverse(sort.StringSlice(protos)))
				misses = append(misses, t.label+" "+strings.Join(protos, " and "))
			}
		}
		subjects := []finding.Subject{}
		for _, n := range pols {
			subjects = append(subjects, finding.Subject{Kind: "NetworkPolicy", Namespace: ns, Name: n})
		}
		evidence := []string{
			fmt.Sprintf("namespace %s: %d pod(s) isolated for egress by %s: %s", ns, len(podNames), plural(len(pols), "policy", "policies"), strings.Join(pols, ", ")),
			"no egress rule allows: " + strings.Join(misses, "; "),
			"pods: " + strings.Join(firstN(podNames, 5), ", ") + more(len(podNames), 5),
		}
		if nl.InUse {
			evidence = append(evidence, "NodeLocal DNS is in use ("+nl.Why+"): pods' queries are answered on the node, not by a CoreDNS pod")
			if corePeer != nil && len(podNames) > 0 {
				if p := ix.Pod(ns, podNames[0]); p != nil {
					v, err := ev.Evaluate(policies, netpol.Egress, netpol.PodFrom(p), *corePeer, corev1.ProtocolUDP, 53)
					switch {
					case err == nil && v.Allowed && v.Isolated:
						evidence = append(evidence, fmt.Sprintf("%s allow%s the CoreDNS pods by selector: enough without NodeLocal DNS, never matched with it", strings.Join(v.AllowedBy, ", "), map[bool]string{true: "s", false: ""}[len(v.AllowedBy) == 1]))
					case err == nil && len(v.Uncertain) > 0:
						// Whether a rule selects the CoreDNS pods depends on
						// labels not collected; NodeLocal DNS blocks either way.
						evidence = append(evidence, "whether a rule allows the CoreDNS pods by selector is unknown ("+strings.Join(v.Uncertain, "; ")+"); with NodeLocal DNS it would not match either way")
					}
				}
			}
		}
		var assumed []string
		for u := range uncertain {
			assumed = append(assumed, "assumption: "+u)
		}
		sort.Strings(assumed)
		evidence = append(evidence, assumed...)
		title := fmt.Sprintf("NetworkPolicy in %s blocks DNS", ns)
		explanation := "Egress from these pods is restricted and no rule allows UDP and TCP 53 to the CoreDNS pods, so every lookup times out."
		if nl.InUse {
			title = fmt.Sprintf("NetworkPolicy in %s blocks NodeLocal DNS (%s)", ns, nl.IP)
			explanation = "NodeLocal DNS answers pods' queries on the node at " + nl.IP + " and at the kube-dns ClusterIP, before any DNAT to a CoreDNS pod, so a rule allowing the CoreDNS pods by label never matches: the policy must allow those two addresses as ipBlocks, UDP and TCP 53 (seed 001 found this on Calico). Until then every lookup from these pods times out."
		}
		sev := finding.Critical
		udpBlocked := false
		for m := range missing {
			udpBlocked = udpBlocked || m.proto == corev1.ProtocolUDP
		}
		if !udpBlocked {
			sev = finding.Warning
			title = fmt.Sprintf("NetworkPolicy in %s allows DNS over UDP but not TCP", ns)
			explanation = "UDP 53 is allowed, TCP 53 is not. Ordinary lookups work, but an answer too large for UDP comes back truncated and the client's retry over TCP is dropped, so exactly the large answers fail (and zone-transfer-like or DNSSEC-sized answers). DNS needs both protocols."
		}
		if len(uncertain) > 0 {
			// The verdict rests on labels netdoctor could not read: say
			// so, and do not call it critical.
			sev = finding.Warning
			title = strings.Replace(title, " blocks ", " may block ", 1)
			explanation += " This verdict assumes namespace labels netdoctor could not read (see the assumptions): " + namespacesWhy(s) + "; check them with 'kubectl get namespace --show-labels'."
		}
		r.Add(finding.Finding{
			Code: "DNS004", Severity: sev, Subjects: subjects,
			Title:       title,
			Evidence:    evidence,
			Explanation: explanation,
			Remediation: []string{
				fmt.Sprintf("kubectl -n %s get networkpolicy %s -o yaml", ns, strings.Join(pols, " ")),
				"kubectl apply -f - <<'EOF'\n" + fixPolicy(ns, nl, dnsIP) + "EOF",
			},
		})
	}
	if blocked == 0 {
		r.Check(check, finding.Passed, fmt.Sprintf("DNS allowed from every pod under %d NetworkPolic%s", len(s.NetworkPolicies), map[bool]string{true: "y", false: "ies"}[len(s.NetworkPolicies) == 1]))
	} else {
		r.Check(check, finding.Failed, fmt.Sprintf("DNS blocked in %d namespace(s)", blocked))
	}
	return r
}

// namespacesWhy says why namespace labels are unknown.
func namespacesWhy(s *snapshot.Snapshot) string {
	if reason, skipped := s.Skipped("namespaces"); skipped {
		return "namespaces could not be listed (" + reason + ")"
	}
	if len(s.Namespaces) == 0 {
		return "the snapshot has no namespaces (collected by an older netdoctor)"
	}
	return "a namespace the rule may select is missing from the snapshot"
}

func policyNamespaces(s *snapshot.Snapshot) map[string]bool {
	out := map[string]bool{}
	for i := range s.NetworkPolicies {
		out[s.NetworkPolicies[i].Namespace] = true
	}
	return out
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k, v := range l {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func affectedKey(affected []string, key string) bool {
	for _, a := range affected {
		if _, k, _ := strings.Cut(a, "\x00"); k == key {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func firstN(ss []string, n int) []string {
	if len(ss) <= n {
		return ss
	}
	return ss[:n]
}

func more(total, shown int) string {
	if total <= shown {
		return ""
	}
	return fmt.Sprintf(" and %d more", total-shown)
}

// fixPolicy renders a NetworkPolicy allowing DNS from every pod of ns.
func fixPolicy(ns string, nl nodeLocalDNS, dnsIP string) string {
	var to string
	if nl.InUse {
		to = fmt.Sprintf("    - ipBlock:\n        cidr: %s/32\n", nl.IP)
		if dnsIP != "" {
			to += fmt.Sprintf("    - ipBlock:\n        cidr: %s/32\n", dnsIP)
		}
	} else {
		to = "    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n"
	}
	return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-dns\n  namespace: " + ns + "\nspec:\n  podSelector: {}\n  policyTypes:\n  - Egress\n  egress:\n  - to:\n" + to +
		"    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\n"
}
