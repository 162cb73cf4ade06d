// Package kubeproxy checks kube-proxy's dataplane against the API: it reads
// each node's iptables-save (nodes/<node>/iptables-save.txt in the
// snapshot), traces packets to every Service through it with package
// trace, and reports KPX001 (no endpoints: REJECT), KPX002
// (externalTrafficPolicy Local: this node DROPs), KPX003 (rules disagree
// with the EndpointSlices) and KPX004 (loadBalancerSourceRanges drop a
// client). Nodes whose kube-proxy runs in a mode that is not traced (ipvs,
// nftables) are skipped with that reason.
package kubeproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/trace"
)

// Modes of kube-proxy.
const (
	ModeIPTables = "iptables"
	ModeIPVS     = "ipvs"
	ModeNFTables = "nftables"
)

// Node is one node's kube-proxy dataplane, ready to trace.
type Node struct {
	Name string
	// IPs are the node's addresses from its Node object.
	IPs []netip.Addr
	// Mode is kube-proxy's mode and ModeSource where it was read.
	Mode, ModeSource string
	// File is the dump's bundle path.
	File   string
	Dump   *iptables.Dump
	Tracer *trace.Tracer
}

// SkippedNode is a node with a dump that cannot be traced, and why.
type SkippedNode struct {
	Name, Reason string
	// Err is set when the dump could not be read (a parse error).
	Err bool
}

// LoadNodes reads every node's iptables-save from the snapshot and
// prepares it for tracing. Nodes in a mode other than iptables, or whose
// dump has no kube-proxy rules or does not parse, come back as skipped.
func LoadNodes(s *snapshot.Snapshot) ([]*Node, []SkippedNode) {
	var nodes []*Node
	var skipped []SkippedNode
	for _, name := range s.NodesWithFiles() {
		n, skip := LoadNode(s, name)
		if skip != nil {
			skipped = append(skipped, *skip)
			continue
		}
		if n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes, skipped
}

// LoadNode prepares one node; it returns (nil, nil) when the node has no
// iptables-save in the snapshot.
func LoadNode(s *snapshot.Snapshot, name string) (*Node, *SkippedNode) {
	data, ok := s.NodeFile(name, nodedata.FileIptablesSave)
	if !ok {
		return nil, nil
	}
	n := &Node{Name: name, File: snapshot.NodeFilePath(name, nodedata.FileIptablesSave), IPs: NodeIPs(s.Index().Node(name))}
	n.Mode, n.ModeSource = detectMode(s, name, data)
	if n.Mode != ModeIPTables {
		return nil, &SkippedNode{Name: name, Reason: fmt.Sprintf("kube-proxy runs in %s mode (%s); only iptables mode is traced", n.Mode, n.ModeSource)}
	}
	d, err := iptables.Parse(n.File, data)
	if err != nil {
		return nil, &SkippedNode{Name: name, Reason: err.Error(), Err: true}
	}
	if d.Chain("nat", "KUBE-SERVICES") == nil {
		return nil, &SkippedNode{Name: name, Reason: "its iptables-save has no nat KUBE-SERVICES chain: kube-proxy is not running in iptables mode there (replaced by a CNI such as Cilium, or not started)"}
	}
	n.Dump = d
	if n.Tracer, err = trace.New(d, n.IPs); err != nil {
		return nil, &SkippedNode{Name: name, Reason: fmt.Sprintf("%s: %v", n.File, err), Err: true}
	}
	return n, nil
}

// NodeIPs returns a node's InternalIP and ExternalIP addresses.
func NodeIPs(n *corev1.Node) []netip.Addr {
	if n == nil {
		return nil
	}
	var ips []netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips
}

// detectMode reads kube-proxy's mode: the node agent's
// kube-proxy-mode.txt (kube-proxy's /proxyMode), then the "mode:" of the
// KubeProxyConfiguration in ConfigMap kube-proxy or kube-proxy-config, then
// the dump itself.
func detectMode(s *snapshot.Snapshot, node string, dump []byte) (mode, source string) {
	if b, ok := s.NodeFile(node, nodedata.FileKubeProxyMode); ok {
		line := strings.TrimSpace(string(b))
		if m, _, _ := strings.Cut(line, " "); m != "" {
			return normMode(m), snapshot.NodeFilePath(node, nodedata.FileKubeProxyMode) + ": " + line
		}
	}
	// kubeadm names it kube-proxy; AKS kube-proxy-config.
	for _, name := range []string{"kube-proxy", "kube-proxy-config"} {
		cm := s.Index().ConfigMap("kube-system", name)
		if cm == nil {
			continue
		}
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if m, ok := configMode(cm.Data[key]); ok {
				return m, "ConfigMap kube-system/" + name + " " + key
			}
		}
	}
	switch {
	case bytes.Contains(dump, []byte(":KUBE-SERVICES")) && bytes.Contains(dump, []byte("-j KUBE-SVC-")):
		return ModeIPTables, "KUBE-SVC-* chains in iptables-save"
	case bytes.Contains(dump, []byte("KUBE-CLUSTER-IP")):
		return ModeIPVS, "ipset KUBE-CLUSTER-IP in iptables-save"
	}
	return ModeIPTables, "default mode (no KUBE-SVC-* chains yet)"
}

// configMode reads `mode: X` from a KubeProxyConfiguration; an empty mode
// is iptables on Linux.
func configMode(conf string) (string, bool) {
	if !strings.Contains(conf, "KubeProxyConfiguration") {
		return "", false
	}
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "mode:") {
			continue
		}
		m := strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "mode:")), `"'`)
		if m == "" {
			return ModeIPTables, true
		}
		return normMode(m), true
	}
	return ModeIPTables, true
}

func normMode(m string) string {
	return strings.ToLower(strings.TrimSpace(m))
}
