// Package netpol evaluates Kubernetes NetworkPolicies: given the policies of
// a namespace, a pod and a peer (another pod or a bare IP) and a port, it
// decides whether the connection is allowed, following the API's semantics:
// policyTypes and their defaulting, empty selectors, namespaceSelector and
// podSelector in the same peer (an AND), ipBlock with except, named ports,
// endPort, and the TCP default protocol.
package netpol

import (
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Direction is ingress or egress.
type Direction string

// Directions.
const (
	Ingress Direction = "Ingress"
	Egress  Direction = "Egress"
)

// Pod is what the evaluator needs to know about a pod.
type Pod struct {
	Namespace string
	Name      string
	Labels    map[string]string
	// IP is the pod's address; it is matched against ipBlocks.
	IP netip.Addr
	// Ports are the pod's declared container ports, used to resolve named
	// ports.
	Ports []corev1.ContainerPort
}

// PodFrom converts a Kubernetes pod.
func PodFrom(p *corev1.Pod) Pod {
	out := Pod{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels}
	if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil {
		out.IP = ip
	}
	for _, c := range p.Spec.Containers {
		out.Ports = append(out.Ports, c.Ports...)
	}
	return out
}

// Peer is the other end of a connection: a pod, or an address that is not a
// pod (a node-local address such as NodeLocal DNS's 169.254.20.10, a
// ClusterIP answered on the node, an external host).
type Peer struct {
	// Pod is set when the peer is a pod.
	Pod *Pod
	// IP is the peer's address (for a pod, its pod IP).
	IP netip.Addr
}

// IPPeer is a peer that is only an address.
func IPPeer(ip netip.Addr) Peer { return Peer{IP: ip} }

// PodPeer is a peer that is a pod.
func PodPeer(p Pod) Peer { return Peer{Pod: &p, IP: p.IP} }

func (p Peer) String() string {
	if p.Pod != nil {
		return "pod " + p.Pod.Namespace + "/" + p.Pod.Name
	}
	return p.IP.String()
}

// Verdict is the outcome of evaluating one connection in one direction.
type Verdict struct {
	// Isolated is true when at least one policy selects the pod for the
	// direction; a pod that is not isolated allows everything.
	Isolated bool
	// Allowed is the decision.
	Allowed bool
	// Policies are the names of the policies that select the pod for the
	// direction, sorted.
	Policies []string
	// AllowedBy are the names of the policies with a rule allowing the
	// connection, sorted.
	AllowedBy []string
	// Uncertain lists assumptions the decision rests on (a namespace's
	// labels were unknown), empty when the decision is exact.
	Uncertain []string
}

// Evaluator evaluates policies. The zero value is usable: namespaces are
// then assumed to carry only their kubernetes.io/metadata.name label.
type Evaluator struct {
	// NamespaceLabels returns a namespace's labels and whether they are
	// known.
	NamespaceLabels func(ns string) (map[string]string, bool)
}

const nameLabel = "kubernetes.io/metadata.name"

func (e Evaluator) nsLabels(ns string) (map[string]string, bool) {
	if e.NamespaceLabels != nil {
		if l, ok := e.NamespaceLabels(ns); ok {
			return l, true
		}
	}
	return map[string]string{nameLabel: ns}, false
}

// Types returns a policy's effective policyTypes: as written, or when empty,
// Ingress plus Egress if it has egress rules (the API server's defaulting).
func Types(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

// Selects reports whether the policy applies to the pod (same namespace,
// podSelector matches; an empty podSelector selects every pod).
func Selects(np *networkingv1.NetworkPolicy, pod Pod) (bool, error) {
	if np.Namespace != pod.Namespace {
		return false, nil
	}
	return matches(&np.Spec.PodSelector, pod.Labels)
}

func matches(sel *metav1.LabelSelector, l map[string]string) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(l)), nil
}

// Evaluate decides whether pod may send (Egress) to or receive (Ingress)
// from peer on port/protocol. protocol "" means TCP. policies may include
// other namespaces' policies; only those selecting pod are used. An invalid
// selector is an error naming the policy.
func (e Evaluator) Evaluate(policies []*networkingv1.NetworkPolicy, dir Direction, pod Pod, peer Peer, protocol corev1.Protocol, port int32) (Verdict, error) {
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	var v Verdict
	uncertain := map[string]bool{}
	for _, np := range policies {
		sel, err := Selects(np, pod)
		if err != nil {
			return Verdict{}, fmt.Errorf("networkpolicy %s/%s: podSelector: %w", np.Namespace, np.Name, err)
		}
		if !sel {
			continue
		}
		in, eg := Types(np)
		if (dir == Ingress && !in) || (dir == Egress && !eg) {
			continue
		}
		v.Isolated = true
		v.Policies = append(v.Policies, np.Name)
		allowed, err := e.policyAllows(np, dir, pod, peer, protocol, port, uncertain)
		if err != nil {
			return Verdict{}, fmt.Errorf("networkpolicy %s/%s: %w", np.Namespace, np.Name, err)
		}
		if allowed {
			v.AllowedBy = append(v.AllowedBy, np.Name)
		}
	}
	v.Allowed = !v.Isolated || len(v.AllowedBy) > 0
	sort.Strings(v.Policies)
	sort.Strings(v.AllowedBy)
	for u := range uncertain {
		v.Uncertain = append(v.Uncertain, u)
	}
	sort.Strings(v.Uncertain)
	return v, nil
}

func (e Evaluator) policyAllows(np *networkingv1.NetworkPolicy, dir Direction, pod Pod, peer Peer, protocol corev1.Protocol, port int32, uncertain map[string]bool) (bool, error) {
	// The pod whose container ports resolve named ports is the destination:
	// the selected pod for ingress, the peer for egress.
	dst := &pod
	if dir == Egress {
		dst = peer.Pod
	}
	type rule struct {
		peers []networkingv1.NetworkPolicyPeer
		ports []networkingv1.NetworkPolicyPort
	}
	var rules []rule
	if dir == Ingress {
		for _, r := range np.Spec.Ingress {
			rules = append(rules, rule{r.From, r.Ports})
		}
	} else {
		for _, r := range np.Spec.Egress {
			rules = append(rules, rule{r.To, r.Ports})
		}
	}
	for _, r := range rules {
		if !PortsMatch(r.ports, dst, protocol, port) {
			continue
		}
		ok, err := e.peersMatch(np.Namespace, r.peers, peer, uncertain)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// PortsMatch reports whether a rule's ports admit protocol/port on dst. An
// empty list admits every port. A named port resolves against dst's
// container ports (with the same protocol); with no dst pod it matches
// nothing.
func PortsMatch(ports []networkingv1.NetworkPolicyPort, dst *Pod, protocol corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != protocol {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.String {
			if dst == nil {
				continue
			}
			for _, cp := range dst.Ports {
				cproto := cp.Protocol
				if cproto == "" {
					cproto = corev1.ProtocolTCP
				}
				if cp.Name == p.Port.StrVal && cproto == protocol && cp.ContainerPort == port {
					return true
				}
			}
			continue
		}
		lo := p.Port.IntVal
		hi := lo
		if p.EndPort != nil && *p.EndPort >= lo {
			hi = *p.EndPort
		}
		if port >= lo && port <= hi {
			return true
		}
	}
	return false
}

func (e Evaluator) peersMatch(policyNS string, peers []networkingv1.NetworkPolicyPeer, peer Peer, uncertain map[string]bool) (bool, error) {
	if len(peers) == 0 {
		return true, nil
	}
	for _, p := range peers {
		ok, err := e.peerMatches(policyNS, p, peer, uncertain)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (e Evaluator) peerMatches(policyNS string, p networkingv1.NetworkPolicyPeer, peer Peer, uncertain map[string]bool) (bool, error) {
	if p.IPBlock != nil {
		if !peer.IP.IsValid() {
			return false, nil
		}
		return InIPBlock(p.IPBlock, peer.IP)
	}
	if peer.Pod == nil {
		// Selectors only ever match pods.
		return false, nil
	}
	if p.NamespaceSelector == nil {
		if peer.Pod.Namespace != policyNS {
			return false, nil
		}
	} else {
		nl, known := e.nsLabels(peer.Pod.Namespace)
		ok, err := matches(p.NamespaceSelector, nl)
		if err != nil {
			return false, fmt.Errorf("namespaceSelector: %w", err)
		}
		if !known && needsMoreThanName(p.NamespaceSelector) {
			uncertain[fmt.Sprintf("namespace %s's labels are unknown: only %s=%s was matched against a namespaceSelector", peer.Pod.Namespace, nameLabel, peer.Pod.Namespace)] = true
		}
		if !ok {
			return false, nil
		}
	}
	if p.PodSelector == nil {
		return true, nil
	}
	ok, err := matches(p.PodSelector, peer.Pod.Labels)
	if err != nil {
		return false, fmt.Errorf("podSelector: %w", err)
	}
	return ok, nil
}

func needsMoreThanName(sel *metav1.LabelSelector) bool {
	for k := range sel.MatchLabels {
		if k != nameLabel {
			return true
		}
	}
	for _, r := range sel.MatchExpressions {
		if r.Key != nameLabel {
			return true
		}
	}
	return false
}

// InIPBlock reports whether ip is inside the block's CIDR and outside every
// except CIDR. A malformed CIDR is an error.
func InIPBlock(b *networkingv1.IPBlock, ip netip.Addr) (bool, error) {
	pfx, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return false, fmt.Errorf("ipBlock cidr %q: %w", b.CIDR, err)
	}
	ip = ip.Unmap()
	if !pfx.Contains(ip) {
		return false, nil
	}
	for _, ex := range b.Except {
		xp, err := netip.ParsePrefix(ex)
		if err != nil {
			return false, fmt.Errorf("ipBlock except %q: %w", ex, err)
		}
		if xp.Contains(ip) {
			return false, nil
		}
	}
	return true, nil
}
