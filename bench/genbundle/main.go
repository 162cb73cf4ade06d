// Command genbundle writes a synthetic bundle of a large cluster for
// netdoctor's speed and memory benchmark: by default 5,000 nodes, 150,000
// pods, 20,000 Services with their EndpointSlices, 5,000 NetworkPolicies and
// 50,000 events, shaped like what 'netdoctor collect' writes. A few
// Services are broken on purpose so the analyzers do real work.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/snapshot"
)

func main() {
	var (
		out      = flag.String("o", "", "bundle to write (directory or .tar.gz)")
		nodes    = flag.Int("nodes", 5000, "nodes")
		pods     = flag.Int("pods", 150000, "pods")
		services = flag.Int("services", 20000, "services")
		policies = flag.Int("policies", 5000, "network policies")
		events   = flag.Int("events", 50000, "events")
		nsCount  = flag.Int("namespaces", 500, "namespaces")
	)
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genbundle: -o is required")
		os.Exit(2)
	}
	s := generate(*nodes, *pods, *services, *policies, *events, *nsCount)
	if err := s.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genbundle:", err)
		os.Exit(1)
	}
}

func generate(nNodes, nPods, nSvc, nPol, nEv, nNS int) *snapshot.Snapshot {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	s := &snapshot.Snapshot{Manifest: snapshot.Manifest{Schema: snapshot.BundleSchema, ToolVersion: "genbundle", CollectedAt: now, ServerVersion: "v1.33.4"}}
	created := metav1.NewTime(now.Add(-48 * time.Hour))
	for i := 0; i < nNodes; i++ {
		name := fmt.Sprintf("aks-nodepool1-%08d-vmss%06x", 12345678, i)
		s.Nodes = append(s.Nodes, corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created, Labels: map[string]string{
				"kubernetes.io/os": "linux", "kubernetes.io/hostname": name, "agentpool": "nodepool1", "topology.kubernetes.io/zone": fmt.Sprintf("eastus-%d", i%3+1)}},
			Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256), ProviderID: "azure:///subscriptions/0000/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1/virtualMachines/" + fmt.Sprint(i)},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.224.%d.%d", i/250, i%250+4)}, {Type: corev1.NodeHostName, Address: name}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}, {Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse}},
				Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
				NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.33.4", OSImage: "Ubuntu 22.04.5 LTS", ContainerRuntimeVersion: "containerd://1.7.27", KernelVersion: "5.15.0-1089-azure"},
			},
		})
	}
	ns := func(i int) string { return fmt.Sprintf("team-%03d", i%nNS) }
	for i := 0; i < nNS; i++ {
		s.Namespaces = append(s.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns(i), CreationTimestamp: created,
			Labels: map[string]string{corev1.LabelMetadataName: ns(i), "team": fmt.Sprintf("t%d", i%20)}}})
	}
	s.Namespaces = append(s.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", CreationTimestamp: created,
		Labels: map[string]string{corev1.LabelMetadataName: "kube-system"}}})
	// Each Service selects the pods of one "app"; apps have nPods/nSvc pods.
	perApp := max(1, nPods/nSvc)
	for i := 0; i < nPods; i++ {
		app := i / perApp
		node := s.Nodes[i%len(s.Nodes)].Name
		name := fmt.Sprintf("app-%05d-7d9f8c6b5-%05d", app, i)
		ready := corev1.ConditionTrue
		if app%997 == 0 {
			ready = corev1.ConditionFalse // a few broken apps
		}
		s.Pods = append(s.Pods, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns(app), CreationTimestamp: created,
				Labels:          map[string]string{"app": fmt.Sprintf("app-%05d", app), "pod-template-hash": "7d9f8c6b5", "tier": "backend"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("app-%05d-7d9f8c6b5", app), UID: "u"}}},
			Spec: corev1.PodSpec{NodeName: node, DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "default",
				Containers: []corev1.Container{{Name: "app", Image: fmt.Sprintf("contoso.azurecr.io/app-%05d:1.4.2", app),
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.%d.%d.%d", 100+(i%len(s.Nodes))/256, (i%len(s.Nodes))%256, 10+i/len(s.Nodes)), HostIP: s.Nodes[i%len(s.Nodes)].Status.Addresses[0].Address,
				QOSClass: corev1.PodQOSBurstable, StartTime: &created,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}, {Type: corev1.ContainersReady, Status: ready}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: ready == corev1.ConditionTrue, RestartCount: 0, Image: "contoso.azurecr.io/app:1.4.2", ImageID: "contoso.azurecr.io/app@sha256:0123456789abcdef", ContainerID: "containerd://0123456789abcdef",
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: created}}}}},
		})
	}
	for i := 0; i < nSvc; i++ {
		sel := map[string]string{"app": fmt.Sprintf("app-%05d", i)}
		if i%1009 == 0 {
			sel["app"] = fmt.Sprintf("app-%05d-typo", i) // a few selector typos
		}
		svcType := corev1.ServiceTypeClusterIP
		if i%500 == 0 {
			svcType = corev1.ServiceTypeLoadBalancer
		}
		name := fmt.Sprintf("app-%05d", i)
		s.Services = append(s.Services, corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns(i), CreationTimestamp: created},
			Spec: corev1.ServiceSpec{Type: svcType, Selector: sel, ClusterIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1),
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: lbIngress(svcType, i)}},
		})
		var eps []discoveryv1.Endpoint
		for j := 0; j < perApp && i*perApp+j < nPods; j++ {
			p := &s.Pods[i*perApp+j]
			r := p.Status.Conditions[0].Status == corev1.ConditionTrue
			eps = append(eps, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: &r}, NodeName: &p.Spec.NodeName,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}})
		}
		port, proto, pname := int32(8080), corev1.ProtocolTCP, "http"
		s.EndpointSlices = append(s.EndpointSlices, discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x7k2p", Namespace: ns(i), Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
			AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps, Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
		})
	}
	tcp := corev1.ProtocolTCP
	for i := 0; i < nPol; i++ {
		s.NetworkPolicies = append(s.NetworkPolicies, networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("allow-app-%05d", i), Namespace: ns(i)},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%05d", i)}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &intstr.IntOrString{IntVal: 8080}}}}}},
		})
	}
	for i := 0; i < nEv; i++ {
		p := &s.Pods[i%len(s.Pods)]
		t := metav1.NewTime(now.Add(-time.Duration(i) * time.Second))
		s.Events = append(s.Events, corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", p.Name, i), Namespace: p.Namespace},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, APIVersion: "v1"},
			Reason:         "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503", Type: corev1.EventTypeWarning,
			Source: corev1.EventSource{Component: "kubelet", Host: p.Spec.NodeName}, FirstTimestamp: t, LastTimestamp: t, Count: 3,
		})
	}
	return s
}

func lbIngress(t corev1.ServiceType, i int) []corev1.LoadBalancerIngress {
	if t != corev1.ServiceTypeLoadBalancer || i%1000 == 0 {
		return nil
	}
	return []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("20.1.%d.%d", i/250, i%250)}}
}
