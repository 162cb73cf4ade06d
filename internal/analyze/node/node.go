// Package node holds netdoctor's node checks: pod CIDR routes (NODE001),
// connection tracking (NODE002) and resource pressure (NODE003). They read
// the Node objects, the per-node artifacts of `--node-data`
// (nodes/<node>/..., see package nodedata), the Azure route tables
// (azure/route-table*.json) and the metrics API's readings
// (metrics/nodes.json, metrics/pods.json).
package node

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Check names.
const (
	CheckPodCIDRRoutes = "node/pod-cidr-routes"
	CheckConntrack     = "node/conntrack"
	CheckConditions    = "node/conditions"
	CheckMetrics       = "node/metrics"
)

// Metrics artifacts: the metrics API's lists as JSON
// (metrics.k8s.io/v1beta1 NodeMetricsList and PodMetricsList).
const (
	MetricsNodesFile = "metrics/nodes.json"
	MetricsPodsFile  = "metrics/pods.json"
	// MetricsResource is the Manifest.Skipped resource name when the
	// metrics API could not be read.
	MetricsResource = "metrics"
)

func nodeSubject(name string) finding.Subject { return finding.Subject{Kind: "Node", Name: name} }

// nodeIP returns a node's InternalIP (the first), or the zero Addr.
func nodeIP(n *corev1.Node) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// podCIDRs returns a node's IPv4 pod CIDRs.
func podCIDRs(n *corev1.Node) []netip.Prefix {
	list := n.Spec.PodCIDRs
	if len(list) == 0 && n.Spec.PodCIDR != "" {
		list = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, c := range list {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	return out
}

// sortedNodes returns the snapshot's nodes sorted by name.
func sortedNodes(s *snapshot.Snapshot) []*corev1.Node {
	out := make([]*corev1.Node, 0, len(s.Nodes))
	for i := range s.Nodes {
		out = append(out, &s.Nodes[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
