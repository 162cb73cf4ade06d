package kubeproxy

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/netdoctor/netdoctor/internal/iptables/iptablestest"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// bigSnapshot is services NodePort Services x 5 endpoints on nodes nodes,
// each with the iptables-save kube-proxy writes for them
// (iptablestest.KubeProxyDump), so every check finds nothing.
func bigSnapshot(services, nodes int) *snapshot.Snapshot {
	s := &snapshot.Snapshot{}
	dump := iptablestest.KubeProxyDump(services, 5)
	for n := 0; n < nodes; n++ {
		name := fmt.Sprintf("node-%d", n)
		s.Nodes = append(s.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("192.168.0.%d", n+2)}}}})
		s.SetFile(snapshot.NodeFilePath(name, "iptables-save.txt"), dump)
	}
	for i := 0; i < services; i++ {
		ns, name := fmt.Sprintf("ns%d", i%50), fmt.Sprintf("svc-%d", i)
		s.Services = append(s.Services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: fmt.Sprintf("172.30.%d.%d", i/256%256, i%256),
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, NodePort: int32(30000 + i%2768)}}}})
		es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}}}
		for e := 0; e < 5; e++ {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i/256%256, i%256, e+1)}})
		}
		s.EndpointSlices = append(s.EndpointSlices, es)
	}
	return s
}

func TestBigSnapshotIsClean(t *testing.T) {
	r := Analyze(bigSnapshot(300, 2))
	if len(r.Findings) != 0 {
		t.Errorf("findings on rules that match the API: %+v", r.Findings[0])
	}
}

// BenchmarkAnalyze runs every check on 20,000 Services x 5 endpoints with
// the rules of 3 nodes (parse, trace each Service port on each node).
func BenchmarkAnalyze(b *testing.B) {
	s := bigSnapshot(20000, 3)
	b.ReportAllocs()
	for b.Loop() {
		r := Analyze(s)
		if len(r.Findings) != 0 {
			b.Fatalf("findings: %+v", r.Findings[0])
		}
	}
}
