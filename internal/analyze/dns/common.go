package dns

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/corefile"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// ConfigMap names read by the DNS analyzers, in kube-system.
const (
	CoreDNSConfigMap   = "coredns"
	CustomConfigMap    = "coredns-custom"
	NodeLocalConfigMap = "node-local-dns"
	// NodeLocalName is the NodeLocal DNS DaemonSet's name.
	NodeLocalName = "node-local-dns"
	// DefaultNodeLocalIP is NodeLocal DNS's conventional address.
	DefaultNodeLocalIP = "169.254.20.10"
)

// kubeDNSIP returns the kube-dns Service's ClusterIP.
func kubeDNSIP(s *snapshot.Snapshot) (string, bool) {
	svc := s.Index().Service(metav1.NamespaceSystem, KubeDNSService)
	if svc == nil || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", false
	}
	return svc.Spec.ClusterIP, true
}

// nodeLocalDNS describes NodeLocal DNS as deployed.
type nodeLocalDNS struct {
	// InUse is true when its DaemonSet, pods or ConfigMap exist.
	InUse bool
	// Why says what showed it.
	Why string
	// IP is its link-local address (from the Corefile's bind, else the
	// conventional 169.254.20.10).
	IP string
	// Corefile is its parsed configuration, nil when absent or broken.
	Corefile *corefile.Corefile
}

func findNodeLocal(s *snapshot.Snapshot) nodeLocalDNS {
	nl := nodeLocalDNS{IP: DefaultNodeLocalIP}
	ns := metav1.NamespaceSystem
	for i := range s.DaemonSets {
		ds := &s.DaemonSets[i]
		if ds.Namespace == ns && (ds.Name == NodeLocalName || ds.Spec.Template.Labels["k8s-app"] == NodeLocalName) {
			nl.InUse, nl.Why = true, "DaemonSet kube-system/"+ds.Name
			break
		}
	}
	if !nl.InUse {
		if pods := s.Index().SelectPods(ns, map[string]string{"k8s-app": NodeLocalName}); len(pods) > 0 {
			nl.InUse, nl.Why = true, "pods with k8s-app="+NodeLocalName+" in kube-system"
		}
	}
	cm := s.Index().ConfigMap(ns, NodeLocalConfigMap)
	if cm != nil {
		if !nl.InUse {
			nl.InUse, nl.Why = true, "ConfigMap kube-system/"+NodeLocalConfigMap
		}
		if text, ok := cm.Data["Corefile"]; ok {
			if cf, err := corefile.Parse(ns+"/"+NodeLocalConfigMap+":Corefile", []byte(text)); err == nil {
				nl.Corefile = cf
				if ip := boundLinkLocal(cf); ip != "" {
					nl.IP = ip
				}
			}
		}
	}
	return nl
}

// boundLinkLocal returns the first link-local address a Corefile binds.
func boundLinkLocal(cf *corefile.Corefile) string {
	for _, srv := range cf.Servers {
		for _, b := range srv.Plugin("bind") {
			for _, a := range b.Args {
				if ip, err := netip.ParseAddr(a); err == nil && ip.IsLinkLocalUnicast() {
					return a
				}
			}
		}
	}
	return ""
}

// configMapSubject turns a corefile source ("kube-system/coredns-custom:key")
// into the ConfigMap subject.
func configMapSubject(source string) finding.Subject {
	ref, _, _ := strings.Cut(source, ":")
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return finding.Subject{Kind: "ConfigMap", Name: ref}
	}
	return finding.Subject{Kind: "ConfigMap", Namespace: ns, Name: name}
}

// coreDNSCorefile parses the coredns and coredns-custom ConfigMaps the way
// AKS composes them. present is false when the coredns ConfigMap was not
// collected.
func coreDNSCorefile(s *snapshot.Snapshot) (cf *corefile.Corefile, present bool, err error) {
	ix := s.Index()
	cm := ix.ConfigMap(metav1.NamespaceSystem, CoreDNSConfigMap)
	if cm == nil {
		return nil, false, nil
	}
	var custom map[string]string
	if c := ix.ConfigMap(metav1.NamespaceSystem, CustomConfigMap); c != nil {
		custom = c.Data
	}
	cf, err = corefile.ParseAKS(metav1.NamespaceSystem, cm.Data, custom)
	return cf, true, err
}

// queryLogging reports whether a Corefile's servers log queries.
func queryLogging(cf *corefile.Corefile) bool {
	if cf == nil {
		return false
	}
	for _, srv := range cf.Servers {
		if srv.Has("log") {
			return true
		}
	}
	return false
}
