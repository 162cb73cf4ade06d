package node

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// nearLimit is the usage ratio (of allocatable, or of a limit) reported.
const nearLimit = 0.90

// pressureConditions are the node conditions that mean resource pressure.
var pressureConditions = []corev1.NodeConditionType{
	corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// Pressure reports NODE003 for nodes with a pressure condition (check
// "node/conditions") and, from the metrics API's readings, for nodes using
// 90% or more of their allocatable CPU or memory and containers using 90%
// or more of their CPU or memory limit (check "node/metrics"). Without
// metrics the metrics check is skipped with the reason.
func Pressure(s *snapshot.Snapshot) finding.Result {
	var res finding.Result
	conditions(s, &res)
	metrics(s, &res)
	return res
}

func conditions(s *snapshot.Snapshot, res *finding.Result) {
	if len(s.Nodes) == 0 {
		reason := "no nodes in the snapshot"
		if r, ok := s.Skipped("nodes"); ok {
			reason = "nodes not collected: " + r
		}
		res.Check(CheckConditions, finding.Skipped, reason)
		return
	}
	var bad []string
	for _, n := range sortedNodes(s) {
		var ev, names []string
		for _, want := range pressureConditions {
			for _, c := range n.Status.Conditions {
				if c.Type == want && c.Status == corev1.ConditionTrue {
					names = append(names, string(c.Type))
					since := ""
					if !c.LastTransitionTime.IsZero() {
						since = fmt.Sprintf(", for %s", s.Now().Sub(c.LastTransitionTime.Time).Round(1e9))
					}
					ev = append(ev, fmt.Sprintf("condition %s=True (%s: %s%s)", c.Type, c.Reason, c.Message, since))
				}
			}
		}
		if len(names) == 0 {
			continue
		}
		bad = append(bad, n.Name)
		for _, t := range n.Spec.Taints {
			if strings.HasPrefix(t.Key, "node.kubernetes.io/") && strings.HasSuffix(t.Key, "-pressure") {
				ev = append(ev, fmt.Sprintf("taint %s:%s keeps new pods off the node", t.Key, t.Effect))
			}
		}
		res.Add(finding.Finding{
			Code:     "NODE003",
			Severity: finding.Warning,
			Title:    fmt.Sprintf("Node %s reports %s", n.Name, strings.Join(names, ", ")),
			Subjects: []finding.Subject{nodeSubject(n.Name)},
			Evidence: ev,
			Explanation: "Under resource pressure the kubelet evicts pods and the node refuses new ones; processes starved of memory, disk or PIDs answer late or not at all, " +
				"which clients see as network timeouts.",
			Remediation: []string{
				"kubectl describe node " + n.Name,
				"kubectl get pods -A -o wide --field-selector spec.nodeName=" + n.Name,
				"kubectl top pods -A --sort-by=memory  # find the consumers",
			},
		})
	}
	if len(bad) > 0 {
		res.Check(CheckConditions, finding.Failed, "pressure on "+strings.Join(bad, ", "))
		return
	}
	res.Check(CheckConditions, finding.Passed, fmt.Sprintf("no MemoryPressure, DiskPressure or PIDPressure on %d nodes", len(s.Nodes)))
}

func metrics(s *snapshot.Snapshot, res *finding.Result) {
	nb, okN := s.File(MetricsNodesFile)
	pb, okP := s.File(MetricsPodsFile)
	if !okN && !okP {
		reason := "metrics not collected"
		if r, ok := s.Skipped(MetricsResource); ok {
			reason = r
			if !strings.HasPrefix(r, "metrics API") {
				reason = "metrics API not available: " + r
			}
		}
		res.Check(CheckMetrics, finding.Skipped, reason)
		return
	}
	var errs, hot []string
	before := len(res.Findings)
	if okN {
		var list metricsv1beta1.NodeMetricsList
		if err := json.Unmarshal(nb, &list); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", MetricsNodesFile, err))
		} else {
			ix := s.Index()
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			for _, m := range list.Items {
				n := ix.Node(m.Name)
				if n == nil {
					continue
				}
				var ev []string
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					use, okU := m.Usage[r]
					alloc, okA := n.Status.Allocatable[r]
					if !okU || !okA || alloc.IsZero() {
						continue
					}
					if ratio := fraction(use, alloc); ratio >= nearLimit {
						ev = append(ev, fmt.Sprintf("%s usage %s of allocatable %s (%.0f%%, metrics API at %s)", r, use.String(), alloc.String(), ratio*100, m.Timestamp.UTC().Format("15:04:05")))
					}
				}
				if len(ev) == 0 {
					continue
				}
				hot = append(hot, "node "+m.Name)
				res.Add(finding.Finding{
					Code:        "NODE003",
					Severity:    finding.Warning,
					Title:       fmt.Sprintf("Node %s is near its CPU or memory capacity", m.Name),
					Subjects:    []finding.Subject{nodeSubject(m.Name)},
					Evidence:    ev,
					Explanation: "A node near its allocatable CPU is slow to schedule every process on it, networking daemons (kube-proxy, CoreDNS, NodeLocal DNS) included; near its memory it starts evicting pods.",
					Remediation: []string{"kubectl top pods -A --sort-by=cpu | head", "kubectl describe node " + m.Name + "  # requests and limits against allocatable"},
				})
			}
		}
	}
	if okP {
		var list metricsv1beta1.PodMetricsList
		if err := json.Unmarshal(pb, &list); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", MetricsPodsFile, err))
		} else {
			hot = append(hot, podLimits(s, list, res)...)
		}
	}
	switch {
	case len(res.Findings) > before:
		res.Check(CheckMetrics, finding.Failed, "near capacity or limits: "+strings.Join(hot, ", "))
	case len(errs) > 0:
		res.Check(CheckMetrics, finding.Error, strings.Join(errs, "; "))
	default:
		res.Check(CheckMetrics, finding.Passed, fmt.Sprintf("no node or container at %.0f%% or more of its capacity or limit", nearLimit*100))
	}
}

// podLimits reports containers at 90% or more of a CPU or memory limit.
func podLimits(s *snapshot.Snapshot, list metricsv1beta1.PodMetricsList, res *finding.Result) []string {
	ix := s.Index()
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i], list.Items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	var hot []string
	for _, pm := range list.Items {
		pod := ix.Pod(pm.Namespace, pm.Name)
		if pod == nil {
			continue
		}
		limits := map[string]corev1.ResourceList{}
		for _, c := range pod.Spec.Containers {
			limits[c.Name] = c.Resources.Limits
		}
		var ev []string
		memory := false
		for _, cm := range pm.Containers {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				use, okU := cm.Usage[r]
				lim, okL := limits[cm.Name][r]
				if !okU || !okL || lim.IsZero() {
					continue
				}
				if ratio := fraction(use, lim); ratio >= nearLimit {
					ev = append(ev, fmt.Sprintf("container %s: %s usage %s of limit %s (%.0f%%)", cm.Name, r, use.String(), lim.String(), ratio*100))
					if r == corev1.ResourceMemory {
						memory = true
					}
				}
			}
		}
		if len(ev) == 0 {
			continue
		}
		hot = append(hot, "pod "+pm.Namespace+"/"+pm.Name)
		expl := "A container at its CPU limit is throttled: it answers late, which its callers see as timeouts."
		if memory {
			expl = "A container near its memory limit is about to be OOM-killed, resetting its connections; at its CPU limit it is throttled and answers late."
		}
		if pod.Spec.NodeName != "" {
			ev = append(ev, "on node "+pod.Spec.NodeName)
		}
		res.Add(finding.Finding{
			Code:        "NODE003",
			Severity:    finding.Warning,
			Title:       fmt.Sprintf("Pod %s/%s is near its CPU or memory limit", pm.Namespace, pm.Name),
			Subjects:    []finding.Subject{{Kind: "Pod", Namespace: pm.Namespace, Name: pm.Name}},
			Evidence:    ev,
			Explanation: expl,
			Remediation: []string{
				fmt.Sprintf("kubectl -n %s top pod %s --containers", pm.Namespace, pm.Name),
				fmt.Sprintf("kubectl -n %s get pod %s -o jsonpath='{.status.containerStatuses[*].lastState}'  # OOMKilled?", pm.Namespace, pm.Name),
				"raise the limit in the workload's spec, or find why usage grew",
			},
		})
	}
	return hot
}

func fraction(use, of resource.Quantity) float64 {
	return float64(use.MilliValue()) / float64(of.MilliValue())
}
