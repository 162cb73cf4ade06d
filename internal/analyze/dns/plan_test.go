package dns

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

func TestPlanProbe(t *testing.T) {
	tests := []struct {
		name          string
		file          string
		nodeResolv    string
		names         []string
		wantHops      []string
		wantNames     []string
		upstreamKnown bool
	}{
		{
			name:      "AKS default, NodeLocal DNS, upstream from the nodes",
			file:      "testdata/netpol/nodelocal-selector-only.yaml",
			wantHops:  []string{"node-local-dns=169.254.20.10", "kube-dns=10.0.0.10", "coredns=10.244.0.5 kube-system/coredns-5d78c9869d-2xkqp@aks-nodepool1-0"},
			wantNames: []string{"kubernetes.default.svc.cluster.local/cluster", "nd*.svc.cluster.local/cluster", "mcr.microsoft.com/external"},
		},
		{
			name:          "node resolv.conf collected",
			file:          "testdata/probes/healthy.yaml",
			nodeResolv:    "nameserver 168.63.129.16\nsearch reddog.microsoft.com\n",
			names:         []string{"www.example.com", "api.shop.svc.cluster.local"},
			wantHops:      []string{"kube-dns=10.0.0.10", "coredns=10.244.0.5 kube-system/coredns-5d78c9869d-2xkqp@aks-nodepool1-0", "coredns=10.244.1.5 kube-system/coredns-5d78c9869d-8fjw2@aks-nodepool1-1", "upstream=168.63.129.16"},
			wantNames:     []string{"kubernetes.default.svc.cluster.local/cluster", "nd*.svc.cluster.local/cluster", "www.example.com/external", "api.shop.svc.cluster.local/cluster"},
			upstreamKnown: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := snapshottest.Load(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if tt.nodeResolv != "" {
				s.SetFile("nodes/aks-nodepool1-0/resolv.conf", []byte(tt.nodeResolv))
			}
			p := PlanProbe(s, tt.names)
			var hops, names []string
			for _, h := range p.Spec.Hops {
				s := h.Name + "=" + h.Addr
				if h.Pod != "" {
					s += " " + h.Pod + "@" + h.Node
				}
				hops = append(hops, s)
			}
			for _, n := range p.Spec.Names {
				if n.CacheBust {
					n.Name = "nd*." + n.Name
				}
				names = append(names, n.Name+"/"+n.Kind)
			}
			if !reflect.DeepEqual(hops, tt.wantHops) {
				t.Errorf("hops: got %v, want %v", hops, tt.wantHops)
			}
			if !reflect.DeepEqual(names, tt.wantNames) {
				t.Errorf("names: got %v, want %v", names, tt.wantNames)
			}
			if p.UpstreamKnown != tt.upstreamKnown {
				t.Errorf("upstream known: got %v, want %v", p.UpstreamKnown, tt.upstreamKnown)
			}
			if !tt.upstreamKnown && fmt.Sprint(p.Spec.UpstreamResolvConf) != fmt.Sprint(UpstreamResolvConfOnNode) {
				t.Errorf("upstream resolv.conf: got %v, want the node's files", p.Spec.UpstreamResolvConf)
			}
		})
	}
}
