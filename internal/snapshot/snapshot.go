// Package snapshot holds everything netdoctor's analyzers read: the cluster's
// Kubernetes objects, per-node artifacts, cloud resources and probe
// observations, at one moment. A Snapshot is collected live (Collect) or read
// from a bundle (Read), and written to one (Write), so a diagnosis can be
// reproduced offline.
package snapshot

import (
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Snapshot is the one input of every analyzer. Analyzers must treat it as
// read-only.
type Snapshot struct {
	// Manifest describes where and when the snapshot was taken, and what
	// could not be collected.
	Manifest Manifest

	Nodes []corev1.Node
	// Namespaces are listed for their labels, which NetworkPolicy
	// namespaceSelectors match.
	Namespaces      []corev1.Namespace
	Pods            []corev1.Pod
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	NetworkPolicies []networkingv1.NetworkPolicy
	Events          []corev1.Event
	// ConfigMaps holds only the kube-system ConfigMaps netdoctor reads
	// (CoreDNS, coredns-custom, NodeLocal DNS, kube-proxy).
	ConfigMaps  []corev1.ConfigMap
	DaemonSets  []appsv1.DaemonSet
	Deployments []appsv1.Deployment

	// Files holds every other artifact by its bundle path, e.g.
	// "nodes/aks-node-0/iptables-save.txt", "azure/aks.json",
	// "probes/dns.json". The area that writes a file owns its format.
	Files map[string][]byte

	indexOnce sync.Once
	index     *Index
}

// Now is the moment the snapshot was taken; analyzers use it instead of a
// clock so that an old bundle reads the same as it did when collected.
func (s *Snapshot) Now() time.Time { return s.Manifest.CollectedAt }

// Skipped reports whether a resource kind could not be collected, and why.
func (s *Snapshot) Skipped(resource string) (string, bool) {
	for _, sk := range s.Manifest.Skipped {
		if sk.Resource == resource {
			return sk.Reason, true
		}
	}
	return "", false
}

// SkipNodeData is the Manifest.Skipped resource for node data that could not
// be collected from any node; a single node's is "nodes/<node>".
const SkipNodeData = "node-data"

// NoNodeDataReason says why per-node data is missing: not asked for, or
// asked for and not collected, with the manifest's reasons.
func (s *Snapshot) NoNodeDataReason() string {
	var why []string
	for _, sk := range s.Manifest.Skipped {
		if sk.Resource == SkipNodeData || strings.HasPrefix(sk.Resource, "nodes/") {
			why = append(why, sk.Resource+": "+sk.Reason)
		}
	}
	if len(why) == 0 {
		return "no per-node data in the snapshot (collect with --node-data)"
	}
	return "node data could not be collected: " + strings.Join(why, "; ")
}

// File returns an artifact by its bundle path.
func (s *Snapshot) File(path string) ([]byte, bool) {
	b, ok := s.Files[path]
	return b, ok
}

// SetFile stores an artifact by its bundle path.
func (s *Snapshot) SetFile(path string, data []byte) {
	if s.Files == nil {
		s.Files = map[string][]byte{}
	}
	s.Files[path] = data
}

// NodeFile returns a per-node artifact, stored at nodes/<node>/<name>.
func (s *Snapshot) NodeFile(node, name string) ([]byte, bool) {
	return s.File(NodeFilePath(node, name))
}

// NodeFilePath is the bundle path of a per-node artifact.
func NodeFilePath(node, name string) string { return "nodes/" + node + "/" + name }

// NodesWithFiles lists, sorted, the nodes that have per-node artifacts.
func (s *Snapshot) NodesWithFiles() []string {
	seen := map[string]bool{}
	for p := range s.Files {
		rest, ok := strings.CutPrefix(p, "nodes/")
		if !ok {
			continue
		}
		if node, _, ok := strings.Cut(rest, "/"); ok {
			seen[node] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Index returns the lookup tables over the snapshot, built once.
func (s *Snapshot) Index() *Index {
	s.indexOnce.Do(func() { s.index = buildIndex(s) })
	return s.index
}
