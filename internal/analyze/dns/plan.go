package dns

import (
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// DefaultExternalName is the external name probed when none is given: every
// AKS node pulls from it, so it must resolve.
const DefaultExternalName = "mcr.microsoft.com"

// UpstreamResolvConfOnNode are the files a node-view agent (hostPID) reads
// for CoreDNS's upstream when CoreDNS forwards to /etc/resolv.conf: the
// systemd-resolved upstream list first, then the node's resolv.conf.
var UpstreamResolvConfOnNode = []string{"/proc/1/root/run/systemd/resolve/resolv.conf", "/proc/1/root/etc/resolv.conf"}

// ProbePlan is what the DNS probe should ask, derived from a snapshot.
type ProbePlan struct {
	// Spec is the probe's spec: hops and names.
	Spec dnsprobe.Spec
	// UpstreamKnown is false when CoreDNS forwards to /etc/resolv.conf and
	// no node's resolv.conf is in the snapshot: only an agent on a node can
	// read it (Spec.UpstreamResolvConf).
	UpstreamKnown bool
	// Notes say what could not be planned.
	Notes []string
}

// PlanProbe derives the hops (NodeLocal DNS when deployed, the kube-dns
// ClusterIP, each CoreDNS pod, the upstream CoreDNS forwards to) and the
// names (a cluster name, plus external names: names ending in the cluster
// domain count as cluster names) from the snapshot.
func PlanProbe(s *snapshot.Snapshot, names []string) ProbePlan {
	var p ProbePlan
	ix := s.Index()
	nl := findNodeLocal(s)
	if nl.InUse {
		p.Spec.Hops = append(p.Spec.Hops, dnsprobe.Hop{Name: dnsprobe.HopNodeLocal, Addr: nl.IP})
	}
	if ip, ok := kubeDNSIP(s); ok {
		p.Spec.Hops = append(p.Spec.Hops, dnsprobe.Hop{Name: dnsprobe.HopKubeDNS, Addr: ip})
	} else {
		p.Notes = append(p.Notes, "no kube-dns Service with a ClusterIP in kube-system")
	}
	pods := ix.SelectPods(metav1.NamespaceSystem, CoreDNSLabel)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	coreNodes := map[string]bool{}
	for _, pod := range pods {
		if pod.Status.PodIP == "" || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		p.Spec.Hops = append(p.Spec.Hops, dnsprobe.Hop{Name: dnsprobe.HopCoreDNS, Addr: pod.Status.PodIP, Pod: pod.Namespace + "/" + pod.Name, Node: pod.Spec.NodeName})
		coreNodes[pod.Spec.NodeName] = true
	}
	domain := "cluster.local"
	cf, _, _ := coreDNSCorefile(s)
	var forwards []string
	if cf != nil {
		for _, srv := range cf.Servers {
			if k := srv.Plugin("kubernetes"); len(k) > 0 && len(k[0].Args) > 0 {
				domain = strings.TrimSuffix(k[0].Args[0], ".")
			}
			if !contains(srv.Zones(), ".") {
				continue
			}
			for _, f := range srv.Plugin("forward") {
				if len(f.Args) > 1 {
					forwards = append(forwards, f.Args[1:]...)
				}
			}
		}
	}
	ups := map[string]bool{}
	resolvConf := false
	for _, to := range forwards {
		if strings.HasPrefix(to, "/") {
			resolvConf = true
			continue
		}
		to = strings.TrimPrefix(to, "dns://")
		if ap, err := netip.ParseAddrPort(to); err == nil {
			ups[ap.String()] = true
		} else if ip, err := netip.ParseAddr(to); err == nil {
			ups[ip.String()] = true
		}
	}
	if resolvConf {
		// CoreDNS runs with dnsPolicy Default: its resolv.conf is its node's.
		for _, node := range s.NodesWithFiles() {
			if len(coreNodes) > 0 && !coreNodes[node] {
				continue
			}
			b, ok := s.NodeFile(node, nodedata.FileResolvConf)
			if !ok {
				continue
			}
			rc, err := dnsprobe.ParseResolvConf(snapshot.NodeFilePath(node, nodedata.FileResolvConf), b)
			if err != nil {
				continue
			}
			for _, ns := range rc.Nameservers {
				if !strings.HasPrefix(ns, "127.") {
					ups[ns] = true
				}
			}
		}
	}
	var upList []string
	for u := range ups {
		upList = append(upList, u)
	}
	sort.Strings(upList)
	for _, u := range upList {
		p.Spec.Hops = append(p.Spec.Hops, dnsprobe.Hop{Name: dnsprobe.HopUpstream, Addr: u, Kinds: []string{dnsprobe.KindExternal}})
	}
	p.UpstreamKnown = len(upList) > 0 || (len(forwards) > 0 && !resolvConf)
	if !p.UpstreamKnown {
		// forward . /etc/resolv.conf, or no Corefile to tell (AKS's default).
		p.Spec.UpstreamResolvConf = UpstreamResolvConfOnNode
	}
	// A name every cluster has (answered from caches once asked), and new
	// names under svc.<domain> that only CoreDNS itself can answer.
	p.Spec.Names = []dnsprobe.Name{
		{Name: "kubernetes.default.svc." + domain, Kind: dnsprobe.KindCluster},
		{Name: "svc." + domain, Kind: dnsprobe.KindCluster, CacheBust: true},
	}
	if len(names) == 0 {
		names = []string{DefaultExternalName}
	}
	for _, n := range names {
		kind := dnsprobe.KindExternal
		if t := strings.TrimSuffix(n, "."); t == domain || strings.HasSuffix(t, "."+domain) {
			kind = dnsprobe.KindCluster
		}
		p.Spec.Names = append(p.Spec.Names, dnsprobe.Name{Name: n, Kind: kind})
	}
	return p
}
