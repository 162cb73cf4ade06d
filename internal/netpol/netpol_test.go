package netpol

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

func policies(t *testing.T, docs string) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		np := &networkingv1.NetworkPolicy{}
		if err := yaml.UnmarshalStrict([]byte(doc), np); err != nil {
			t.Fatalf("policy: %v\n%s", err, doc)
		}
		out = append(out, np)
	}
	return out
}

var (
	app = Pod{Namespace: "tenant", Name: "web-1", Labels: map[string]string{"app": "web"}, IP: netip.MustParseAddr("10.244.1.5")}
	// A CoreDNS pod as AKS labels it.
	coredns = Pod{Namespace: "kube-system", Name: "coredns-abc", Labels: map[string]string{"k8s-app": "kube-dns"}, IP: netip.MustParseAddr("10.244.0.7"),
		Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}}}
	db = Pod{Namespace: "tenant", Name: "db-0", Labels: map[string]string{"app": "db"}, IP: netip.MustParseAddr("10.244.2.9"),
		Ports: []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432}}}
	nodeLocal = netip.MustParseAddr("169.254.20.10")
	kubeDNS   = netip.MustParseAddr("10.0.0.10")
)

// The seed's case: default-deny egress that allows DNS only to the CoreDNS
// pods by selector.
const denyAllowKubeDNSBySelector = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: kube-system}
      podSelector:
        matchLabels: {k8s-app: kube-dns}
    ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
`

// The fix for NodeLocal DNS: the link-local address and the kube-dns
// ClusterIP as ipBlocks.
const allowNodeLocal = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-node-local-dns, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 169.254.20.10/32}
    - ipBlock: {cidr: 10.0.0.10/32}
    ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
`

func udp() corev1.Protocol { return corev1.ProtocolUDP }

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name      string
		policies  string
		dir       Direction
		pod       Pod
		peer      Peer
		proto     corev1.Protocol
		port      int32
		want      bool
		isolated  bool
		allowedBy []string
	}{
		{name: "no policy allows", dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true},
		{name: "selector-only DNS rule allows CoreDNS pod", policies: denyAllowKubeDNSBySelector, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"default-deny"}},
		{name: "selector-only DNS rule denies NodeLocal DNS address", policies: denyAllowKubeDNSBySelector, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
		{name: "selector-only DNS rule denies kube-dns ClusterIP answered on the node", policies: denyAllowKubeDNSBySelector, dir: Egress, pod: app, peer: IPPeer(kubeDNS), proto: corev1.ProtocolTCP, port: 53, want: false, isolated: true},
		{name: "ipBlock fix allows NodeLocal DNS", policies: denyAllowKubeDNSBySelector + "\n---\n" + allowNodeLocal, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"allow-node-local-dns"}},
		{name: "DNS rule does not open other ports", policies: allowNodeLocal, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: corev1.ProtocolTCP, port: 8080, want: false, isolated: true},
		{name: "protocol defaults to TCP", policies: `
metadata: {name: tcp-only, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 53}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
		{name: "ingress-only policy leaves egress open", policies: `
metadata: {name: deny-in, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true},
		{name: "policyTypes defaults to Ingress only without egress rules", policies: `
metadata: {name: no-types, namespace: tenant}
spec:
  podSelector: {}
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true},
		{name: "policyTypes defaults to Ingress only: ingress denied", policies: `
metadata: {name: no-types, namespace: tenant}
spec:
  podSelector: {}
`, dir: Ingress, pod: app, peer: PodPeer(db), port: 80, want: false, isolated: true},
		{name: "policyTypes defaults to include Egress with egress rules", policies: `
metadata: {name: egress-rules, namespace: tenant}
spec:
  podSelector: {}
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
		{name: "policy in another namespace does not apply", policies: `
metadata: {name: deny, namespace: other}
spec:
  podSelector: {}
  policyTypes: [Egress]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true},
		{name: "podSelector not matching the pod does not isolate it", policies: `
metadata: {name: deny-db, namespace: tenant}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Egress]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true},
		{name: "empty egress rule allows everything", policies: `
metadata: {name: allow-all, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"allow-all"}},
		{name: "podSelector alone means the policy's namespace", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {k8s-app: kube-dns}}}]
`, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: false, isolated: true},
		{name: "namespaceSelector and podSelector in separate peers is an OR", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
    - podSelector: {matchLabels: {app: nothing}}
`, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "namespaceSelector and podSelector in one peer is an AND", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {app: nothing}}
`, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: false, isolated: true},
		{name: "empty namespaceSelector matches every namespace", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}}]
`, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "selectors never match a bare address", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
		{name: "ipBlock except carves out", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [169.254.0.0/16]}}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
		{name: "ipBlock outside except allows", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [169.254.0.0/16]}}]
`, dir: Egress, pod: app, peer: IPPeer(kubeDNS), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "named port resolves on the destination pod", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP, port: dns}]
`, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "named port never matches a bare address", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP, port: dns}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
		{name: "named port with the wrong protocol", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: TCP, port: dns}]
`, dir: Egress, pod: app, peer: PodPeer(coredns), proto: udp(), port: 53, want: false, isolated: true},
		{name: "ingress named port on the selected pod", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: pg}]
`, dir: Ingress, pod: db, peer: PodPeer(app), port: 5432, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "endPort range includes", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: TCP, port: 32000, endPort: 32768}]
`, dir: Egress, pod: app, peer: IPPeer(kubeDNS), port: 32768, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "endPort range excludes", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: TCP, port: 32000, endPort: 32768}]
`, dir: Egress, pod: app, peer: IPPeer(kubeDNS), port: 32769, want: false, isolated: true},
		{name: "port without number admits the protocol", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{protocol: UDP}]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: true, isolated: true, allowedBy: []string{"p"}},
		{name: "matchExpressions", policies: `
metadata: {name: p, namespace: tenant}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: In, values: [web, api]}]
  policyTypes: [Egress]
`, dir: Egress, pod: app, peer: IPPeer(nodeLocal), proto: udp(), port: 53, want: false, isolated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Evaluator{}.Evaluate(policies(t, tt.policies), tt.dir, tt.pod, tt.peer, tt.proto, tt.port)
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.want || v.Isolated != tt.isolated {
				t.Errorf("got allowed=%v isolated=%v, want allowed=%v isolated=%v (%+v)", v.Allowed, v.Isolated, tt.want, tt.isolated, v)
			}
			if !reflect.DeepEqual(v.AllowedBy, tt.allowedBy) {
				t.Errorf("allowedBy: got %v, want %v", v.AllowedBy, tt.allowedBy)
			}
		})
	}
}

func TestEvaluateUncertainNamespaceLabels(t *testing.T) {
	nps := policies(t, `
metadata: {name: p, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: platform}}}]
`)
	v, err := Evaluator{}.Evaluate(nps, Egress, app, PodPeer(coredns), corev1.ProtocolUDP, 53)
	if err != nil {
		t.Fatal(err)
	}
	if v.Allowed || len(v.Uncertain) != 1 {
		t.Errorf("got allowed=%v uncertain=%v, want denied with one assumption", v.Allowed, v.Uncertain)
	}
	known := Evaluator{NamespaceLabels: func(ns string) (map[string]string, bool) {
		return map[string]string{"team": "platform"}, true
	}}
	v, err = known.Evaluate(nps, Egress, app, PodPeer(coredns), corev1.ProtocolUDP, 53)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Allowed || len(v.Uncertain) != 0 {
		t.Errorf("got allowed=%v uncertain=%v, want allowed and exact", v.Allowed, v.Uncertain)
	}
}

func TestEvaluateErrors(t *testing.T) {
	tests := []struct {
		name, policies, want string
	}{
		{"bad cidr", `
metadata: {name: bad, namespace: tenant}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 169.254.20.10}}]
`, `networkpolicy tenant/bad: ipBlock cidr "169.254.20.10"`},
		{"bad selector operator", `
metadata: {name: bad, namespace: tenant}
spec:
  podSelector:
    matchExpressions: [{key: app, operator: Like, values: [web]}]
`, `networkpolicy tenant/bad: podSelector`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluator{}.Evaluate(policies(t, tt.policies), Egress, app, IPPeer(nodeLocal), corev1.ProtocolUDP, 53)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got error %v, want prefix %q", err, tt.want)
			}
		})
	}
}
