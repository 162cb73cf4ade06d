package sched

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFits(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"agentpool": "nodepool1"}}}
	affinity := func(op corev1.NodeSelectorOperator, vals ...string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: op, Values: vals}}}},
		}}}
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want bool
	}{
		{"no constraints", corev1.PodSpec{}, true},
		{"selector matches", corev1.PodSpec{NodeSelector: map[string]string{"agentpool": "nodepool1"}}, true},
		{"selector misses", corev1.PodSpec{NodeSelector: map[string]string{"agentpool": "other"}}, false},
		{"daemonset affinity to this node", corev1.PodSpec{Affinity: affinity(corev1.NodeSelectorOpIn, "n1")}, true},
		{"daemonset affinity to another node", corev1.PodSpec{Affinity: affinity(corev1.NodeSelectorOpIn, "n2")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fits(&corev1.Pod{Spec: tt.spec}, node); got != tt.want {
				t.Errorf("fits = %v, want %v", got, tt.want)
			}
		})
	}
}
