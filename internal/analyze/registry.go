package analyze

import (
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/analyze/azure"
	"github.com/netdoctor/netdoctor/internal/analyze/dns"
	"github.com/netdoctor/netdoctor/internal/analyze/egress"
	"github.com/netdoctor/netdoctor/internal/analyze/kubeproxy"
	"github.com/netdoctor/netdoctor/internal/analyze/node"
	"github.com/netdoctor/netdoctor/internal/analyze/services"
)

// Options tunes the analyzers.
type Options struct {
	// Clients are addresses outside the cluster whose access to
	// LoadBalancer Services with loadBalancerSourceRanges is checked
	// (KPX004), besides the in-cluster pods always checked.
	Clients []netip.Addr
}

// All returns every analyzer with default options.
func All() []Analyzer { return AllWith(Options{}) }

// AllWith returns every analyzer, in the order they run. This is the one
// registration table: add a new analyzer here.
func AllWith(o Options) []Analyzer {
	return []Analyzer{
		Func{N: "services", F: services.Backends},
		Func{N: "loadbalancers", F: services.LoadBalancers},
		Func{N: "kube-dns", F: dns.KubeDNS},
		Func{N: "dns-corefiles", F: dns.Corefiles},
		Func{N: "dns-network-policies", F: dns.Policies},
		Func{N: "dns-pod-settings", F: dns.PodDNS},
		Func{N: "dns-probes", F: dns.Probes},
		Func{N: "azure-outbound", F: azure.Outbound},
		Func{N: "node-routes", F: node.Routes},
		Func{N: "node-conntrack", F: node.Conntrack},
		Func{N: "node-pressure", F: node.Pressure},
		Func{N: "egress-probes", F: egress.Probes},
		kubeproxy.Analyzer{Clients: o.Clients},
	}
}
