package azure

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// BenchmarkOutbound measures the analyzer on a large cluster: 1000 nodes,
// each with a full connection summary (500 destinations, the collector's
// bound) and 200 pods, plus the Azure data of the nsg-deny case.
func BenchmarkOutbound(b *testing.B) {
	t := &testing.T{}
	base := loadCase(t, "nsg-deny")
	s := &snapshot.Snapshot{Manifest: base.Manifest, Files: map[string][]byte{}}
	for k, v := range base.Files {
		s.Files[k] = v
	}
	for n := range 1000 {
		name := fmt.Sprintf("aks-nodepool1-22064185-vmss%06d", n)
		ip := netip.AddrFrom4([4]byte{10, 224, byte(n >> 8), byte(n)})
		s.Nodes = append(s.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}}}})
		sum := connSummary{}
		for d := range nodedata.MaxDestinations {
			sum.Destinations = append(sum.Destinations, nodedata.DestinationCount{
				IP: netip.AddrFrom4([4]byte{20, byte(d >> 8), byte(d), 1}), Port: 443, Established: 3, SynSent: d % 2})
		}
		for p := range 200 {
			sum.Sources = append(sum.Sources, nodedata.SourceCount{IP: netip.AddrFrom4([4]byte{10, 244, byte(n % 250), byte(p)}), Established: p})
		}
		raw, err := json.Marshal(sum)
		if err != nil {
			b.Fatal(err)
		}
		s.SetFile(snapshot.NodeFilePath(name, nodedata.FileConnections), raw)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := Outbound(s)
		if len(r.Checks) == 0 {
			b.Fatal("no checks")
		}
	}
}
