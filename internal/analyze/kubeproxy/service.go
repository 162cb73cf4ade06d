package kubeproxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/trace"
)

// Via is how a client reaches a Service.
type Via string

// Ways to reach a Service.
const (
	ViaClusterIP    Via = "clusterip"
	ViaNodePort     Via = "nodeport"
	ViaLoadBalancer Via = "loadbalancer"
	ViaExternalIP   Via = "externalip"
)

// ExternalClient is the client address used for traffic from outside the
// cluster when none is given (TEST-NET-3, RFC 5737).
var ExternalClient = netip.MustParseAddr("203.0.113.1")

// Target returns the destination a client uses to reach a Service port
// via the given way, on node n (for a NodePort).
func Target(svc *corev1.Service, port *corev1.ServicePort, via Via, n *Node) (netip.Addr, int, error) {
	switch via {
	case ViaClusterIP:
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("Service %s/%s has no ClusterIP (%q)", svc.Namespace, svc.Name, svc.Spec.ClusterIP)
		}
		return ip, int(port.Port), nil
	case ViaNodePort:
		if port.NodePort == 0 {
			return netip.Addr{}, 0, fmt.Errorf("Service %s/%s port %s has no NodePort", svc.Namespace, svc.Name, portName(port))
		}
		if n == nil || len(n.IPs) == 0 {
			return netip.Addr{}, 0, fmt.Errorf("the node's IP is not known (no Node object in the snapshot)")
		}
		return n.IPs[0], int(port.NodePort), nil
	case ViaLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(in.IP); err == nil {
				return ip, int(port.Port), nil
			}
		}
		return netip.Addr{}, 0, fmt.Errorf("Service %s/%s has no load balancer IP", svc.Namespace, svc.Name)
	case ViaExternalIP:
		for _, s := range svc.Spec.ExternalIPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				return ip, int(port.Port), nil
			}
		}
		return netip.Addr{}, 0, fmt.Errorf("Service %s/%s has no external IPs", svc.Namespace, svc.Name)
	}
	return netip.Addr{}, 0, fmt.Errorf("unknown way %q (want clusterip, nodeport, loadbalancer or externalip)", via)
}

func portName(p *corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Port)
}

func protoOf(p *corev1.ServicePort) string {
	if p.Protocol == "" {
		return "tcp"
	}
	return strings.ToLower(string(p.Protocol))
}

// TraceService traces a packet from src to the Service port via the given
// way on node n. local marks a packet the node itself sends.
func TraceService(n *Node, svc *corev1.Service, port *corev1.ServicePort, via Via, src netip.Addr, local bool) (trace.Packet, trace.Result, error) {
	dst, dport, err := Target(svc, port, via, n)
	if err != nil {
		return trace.Packet{}, trace.Result{}, err
	}
	p := trace.Packet{Src: src, Dst: dst, Proto: protoOf(port), DstPort: dport, Local: local}
	return p, n.Tracer.Trace(p), nil
}

// Endpoint is one endpoint of a Service port as the API lists it.
type Endpoint struct {
	IP   string
	Port int
	// Node is the endpoint's node ("" when not set).
	Node string
	// Pod is "namespace/name" of the pod behind it ("" when not a pod).
	Pod         string
	Ready       bool
	Serving     bool
	Terminating bool
	// Zones are the topology hints.
	Zones []string
}

// Key is "ip:port".
func (e Endpoint) Key() string {
	return netip.AddrPortFrom(netip.MustParseAddr(e.IP), uint16(e.Port)).String()
}

// Endpoints lists the IPv4 endpoints of a Service port from its
// EndpointSlices, sorted by address.
func Endpoints(s *snapshot.Snapshot, svc *corev1.Service, port *corev1.ServicePort) []Endpoint {
	var out []Endpoint
	seen := map[string]bool{}
	for _, es := range s.Index().EndpointSlices(svc.Namespace, svc.Name) {
		if es.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		epPort := 0
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			pp := port.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if name == port.Name && proto == pp && p.Port != nil {
				epPort = int(*p.Port)
			}
		}
		if epPort == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				e := Endpoint{IP: ip.String(), Port: epPort,
					Ready:       ep.Conditions.Ready == nil || *ep.Conditions.Ready,
					Serving:     ep.Conditions.Serving == nil || *ep.Conditions.Serving,
					Terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
				}
				if ep.Conditions.Serving == nil {
					e.Serving = e.Ready
				}
				if ep.NodeName != nil {
					e.Node = *ep.NodeName
				}
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
					ns := ep.TargetRef.Namespace
					if ns == "" {
						ns = svc.Namespace
					}
					e.Pod = ns + "/" + ep.TargetRef.Name
				}
				if ep.Hints != nil {
					for _, z := range ep.Hints.ForZones {
						e.Zones = append(e.Zones, z.Name)
					}
				}
				if seen[e.Key()] {
					continue
				}
				seen[e.Key()] = true
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return netip.MustParseAddr(out[i].IP).Less(netip.MustParseAddr(out[j].IP))
	})
	return out
}

// UsedEndpoints returns the endpoints kube-proxy uses: the ready ones, or,
// when none is ready, the serving terminating ones.
func UsedEndpoints(eps []Endpoint) []Endpoint {
	var ready, terminating []Endpoint
	for _, e := range eps {
		switch {
		case e.Ready:
			ready = append(ready, e)
		case e.Serving && e.Terminating:
			terminating = append(terminating, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

// Traced reports whether kube-proxy writes iptables rules for a Service.
func Traced(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return false
	}
	if _, ok := svc.Labels["service.kubernetes.io/service-proxy-name"]; ok {
		return false
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	return err == nil && ip.Is4()
}

// EndpointOwner describes where a DNAT destination lives.
func EndpointOwner(eps []Endpoint, ip string, port int) (Endpoint, bool) {
	for _, e := range eps {
		if e.IP == ip && e.Port == port {
			return e, true
		}
	}
	for _, e := range eps {
		if e.IP == ip {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Classify names the finding code a traced verdict shows: KPX001 for a
// REJECT of a Service without endpoints, KPX002 for a DROP of
// externalTrafficPolicy Local traffic on a node without a local endpoint,
// KPX004 for a DROP by loadBalancerSourceRanges; "" otherwise. It reads
// both current kube-proxy rules (KUBE-EXTERNAL-SERVICES,
// KUBE-PROXY-FIREWALL) and those before v1.25 (KUBE-XLB-*, KUBE-FW-* ending
// in KUBE-MARK-DROP, dropped in KUBE-FIREWALL).
func Classify(res trace.Result) string {
	switch res.Verdict {
	case trace.Reject:
		if res.Decision != nil && strings.Contains(res.Decision.Comment, "has no endpoints") {
			return "KPX001"
		}
	case trace.Drop:
		steps := res.Path
		if res.Decision != nil {
			steps = append([]trace.Step{*res.Decision}, steps...)
		}
		for _, st := range steps {
			if strings.Contains(st.Comment, "has no local endpoints") {
				return "KPX002"
			}
		}
		if res.Decision != nil && res.Decision.Chain == "KUBE-PROXY-FIREWALL" {
			return "KPX004"
		}
		for _, st := range steps {
			if strings.HasPrefix(st.Chain, "KUBE-FW-") && st.Target == "KUBE-MARK-DROP" {
				return "KPX004"
			}
		}
	}
	return ""
}
