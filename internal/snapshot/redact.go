package snapshot

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastApplied is kubectl's annotation holding a copy of the whole object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// The slim functions drop from each object what netdoctor never reads and
// what may hold secrets. They run on every object collected and on every
// object read from a bundle, so both hold the same. A bundle is meant to be
// attached to a ticket; it must not carry credentials passed in env or args.

// slimPod drops the containers' environment, command and arguments,
// volumes and mounts, resource requests (limits are kept: the node analyzer
// compares usage with them), and kubectl's copy of the object.
func slimPod(p *corev1.Pod) {
	slimMeta(&p.ObjectMeta)
	slimPodSpec(&p.Spec)
	for i := range p.Spec.EphemeralContainers {
		c := &p.Spec.EphemeralContainers[i].EphemeralContainerCommon
		c.Env, c.EnvFrom, c.Command, c.Args, c.VolumeMounts, c.VolumeDevices = nil, nil, nil, nil, nil, nil
		c.Resources.Requests = nil
	}
}

func slimContainer(c *corev1.Container) {
	c.Env, c.EnvFrom, c.Command, c.Args, c.VolumeMounts, c.VolumeDevices = nil, nil, nil, nil, nil, nil
	c.Resources.Requests = nil
}

// slimMeta drops managed fields and kubectl's copy of the object.
func slimMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	delete(m.Annotations, lastApplied)
}

// slimPodSpec drops the same from a workload's pod template.
func slimPodSpec(spec *corev1.PodSpec) {
	spec.Volumes = nil
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			slimContainer(&cs[i])
		}
	}
}

func slimNamespace(o *corev1.Namespace)               { slimMeta(&o.ObjectMeta) }
func slimNode(o *corev1.Node)                         { slimMeta(&o.ObjectMeta) }
func slimService(o *corev1.Service)                   { slimMeta(&o.ObjectMeta) }
func slimEndpointSlice(o *discoveryv1.EndpointSlice)  { slimMeta(&o.ObjectMeta) }
func slimNetworkPolicy(o *networkingv1.NetworkPolicy) { slimMeta(&o.ObjectMeta) }
func slimEvent(o *corev1.Event)                       { slimMeta(&o.ObjectMeta) }
func slimConfigMap(o *corev1.ConfigMap)               { slimMeta(&o.ObjectMeta) }
func slimDaemonSet(o *appsv1.DaemonSet)               { slimMeta(&o.ObjectMeta); slimPodSpec(&o.Spec.Template.Spec) }
func slimDeployment(o *appsv1.Deployment) {
	slimMeta(&o.ObjectMeta)
	slimPodSpec(&o.Spec.Template.Spec)
}
