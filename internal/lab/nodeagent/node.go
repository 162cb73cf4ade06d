package nodeagent

import (
	"context"
	"fmt"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// KubeletPort is the port the agent serves the kubelet API (logs) on.
const KubeletPort = 10250

func (a *Agent) nodeObject() *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname":           a.cfg.NodeName,
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"beta.kubernetes.io/os":            "linux",
		"beta.kubernetes.io/arch":          "amd64",
		"node.kubernetes.io/instance-type": "Standard_D2s_v3",
		"topology.kubernetes.io/region":    "westeurope",
		"topology.kubernetes.io/zone":      "0",
		"agentpool":                        "nodepool1",
		"kubernetes.azure.com/agentpool":   "nodepool1",
		"kubernetes.azure.com/role":        "agent",
		"kubernetes.azure.com/mode":        "system",
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels},
		Spec: corev1.NodeSpec{
			ProviderID: "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_ndlab_ndlab_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/" + strconv.Itoa(a.cfg.Index),
		},
	}
	if a.cfg.RegisterPodCIDR {
		n.Spec.PodCIDR = a.cfg.PodCIDR.String()
		n.Spec.PodCIDRs = []string{a.cfg.PodCIDR.String()}
	}
	return n
}

func (a *Agent) nodeStatus(now metav1.Time) corev1.NodeStatus {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("2"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("120Gi"),
	}
	return corev1.NodeStatus{
		Capacity:    res,
		Allocatable: res,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP.String()},
			{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: KubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               fmt.Sprintf("ndlab%027d", a.cfg.Index),
			SystemUUID:              fmt.Sprintf("00000000-0000-0000-0000-%012d", a.cfg.Index),
			BootID:                  fmt.Sprintf("00000000-0000-0000-0001-%012d", a.cfg.Index),
			KernelVersion:           "5.15.0-1079-azure",
			OSImage:                 "Ubuntu 22.04.5 LTS",
			ContainerRuntimeVersion: "containerd://1.7.27-1",
			KubeletVersion:          a.cfg.KubeletVersion,
			KubeProxyVersion:        a.cfg.KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
	}
}

// registerNode creates the Node (or adopts an existing one) and posts its
// status.
func (a *Agent) registerNode(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	_, err := nodes.Create(ctx, a.nodeObject(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", a.cfg.NodeName, err)
	}
	return a.postStatus(ctx)
}

func (a *Agent) postStatus(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	n, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", a.cfg.NodeName, err)
	}
	now := metav1.Now()
	st := a.nodeStatus(now)
	// Keep transition times of conditions that did not change.
	for i, c := range st.Conditions {
		for _, old := range n.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				st.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	n.Status = st
	if _, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update node status %s: %w", a.cfg.NodeName, err)
	}
	return nil
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.cfg.NodeName),
				LeaseDurationSeconds: ptr.To[int32](40),
				RenewTime:            &now,
			},
		}
		if n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease: %w", err)
	}
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// heartbeat renews the lease every 10 s and the status every 20 s, as the
// kubelet does by default (nodeStatusUpdateFrequency is longer there; the lab
// keeps it short so a restarted agent shows Ready quickly).
func (a *Agent) heartbeat(ctx context.Context) {
	n := 0
	for {
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.logf("lease: %v", err)
		}
		if n%2 == 1 {
			if err := a.postStatus(ctx); err != nil && ctx.Err() == nil {
				a.logf("status: %v", err)
			}
		}
		n++
		if !sleepCtx(ctx, 10*time.Second) {
			return
		}
	}
}
