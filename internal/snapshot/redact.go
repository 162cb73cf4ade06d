package snapshot

import corev1 "k8s.io/api/core/v1"

// lastApplied is kubectl's annotation holding a copy of the whole object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// slimPod drops what netdoctor never reads and what may hold secrets: the
// containers' environment, command and arguments, volumes and mounts, and
// kubectl's copy of the object. A bundle is meant to be attached to a
// ticket; it must not carry credentials passed in env or args.
func slimPod(p *corev1.Pod) {
	p.ManagedFields = nil
	delete(p.Annotations, lastApplied)
	slimPodSpec(&p.Spec)
	for i := range p.Spec.EphemeralContainers {
		c := &p.Spec.EphemeralContainers[i].EphemeralContainerCommon
		c.Env, c.EnvFrom, c.Command, c.Args, c.VolumeMounts = nil, nil, nil, nil, nil
	}
}

func slimContainer(c *corev1.Container) {
	c.Env, c.EnvFrom, c.Command, c.Args, c.VolumeMounts, c.VolumeDevices = nil, nil, nil, nil, nil, nil
}

// slimMeta drops managed fields and kubectl's copy of the object.
func slimMeta(annotations map[string]string) {
	delete(annotations, lastApplied)
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
