package lab

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestAddonsDecode(t *testing.T) {
	y, err := renderYAML(addonsYAML+"---\n"+nodeLocalYAML, map[string]any{
		"Corefile": corednsCorefile, "NodeLocalCorefile": nodeLocalCorefile, "Replicas": CoreDNSReplicas,
		"DNSIP": ClusterDNSIP, "NodeLocalIP": NodeLocalIP, "ClusterCIDR": ClusterCIDR,
		"KubernetesVersion": KubernetesVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(y)
	if err != nil {
		t.Fatal(err)
	}
	var sawDNS, sawCM, sawDS bool
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Service:
			if v.Name == "kube-dns" && v.Spec.ClusterIP == ClusterDNSIP {
				sawDNS = true
			}
		case *corev1.ConfigMap:
			if v.Name == "node-local-dns" && strings.Contains(v.Data["Corefile"], "__PILLAR__CLUSTER__DNS__") &&
				!strings.Contains(v.Data["Corefile"], "__PILLAR__LOCAL__DNS__") {
				sawCM = true
			}
		case *appsv1.DaemonSet:
			sawDS = v.Name == "node-local-dns" && v.Spec.Template.Spec.HostNetwork
		}
	}
	if !sawDNS || !sawCM || !sawDS {
		t.Errorf("kube-dns service %v, node-local-dns configmap %v, daemonset %v", sawDNS, sawCM, sawDS)
	}
}

func TestRouteTableDropsFaultedRoute(t *testing.T) {
	l := &Lab{state: State{Config: Config{Network: "kubenet"}, Faults: map[string]FaultState{}}}
	for i := 0; i < 3; i++ {
		l.state.Nodes = append(l.state.Nodes, Node{Name: nodeName(i), Index: i, IP: nodeIP(i), PodCIDR: podCIDR(i, "kubenet")})
	}
	if got := len(l.azRouteTable()["routes"].([]obj)); got != 3 {
		t.Fatalf("got %d routes, want 3", got)
	}
	l.state.Faults["kubenet-route-missing"] = FaultState{Name: "kubenet-route-missing", Target: nodeName(1)}
	l.state.Faults["udr-blackhole"] = FaultState{Name: "udr-blackhole"}
	routes := l.azRouteTable()["routes"].([]obj)
	var prefixes []string
	for _, r := range routes {
		prefixes = append(prefixes, r["addressPrefix"].(string))
	}
	if got, want := strings.Join(prefixes, ","), "10.244.0.0/24,10.244.2.0/24,0.0.0.0/0"; got != want {
		t.Errorf("routes %s, want %s", got, want)
	}
	if got := l.azAKS()["networkProfile"].(obj)["outboundType"]; got != "userDefinedRouting" {
		t.Errorf("outboundType %v, want userDefinedRouting", got)
	}
}

func TestSNATRulesKeepCatchAllLast(t *testing.T) {
	n := Node{IP: "10.224.0.4"}
	for _, op := range []string{"-A", "-I"} {
		rules := (&Lab{}).snatRules(op, n, [2]int{1024, 1031})
		// Appended rules keep order; inserted ones end up reversed.
		last := rules[len(rules)-1]
		if op == "-I" {
			last = rules[0]
		}
		if strings.Contains(strings.Join(last, " "), "-p") {
			t.Errorf("%s: catch-all SNAT rule would precede the port-range rules: %v", op, rules)
		}
	}
}
