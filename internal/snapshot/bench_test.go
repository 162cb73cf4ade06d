package snapshot

import (
	"bytes"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func BenchmarkDecodePods(b *testing.B) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := 0; i < 10000; i++ {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f8c6b5-abcde", Namespace: "shop", Labels: map[string]string{"app": "web", "pod-template-hash": "7d9f8c6b5"}},
			Spec:   corev1.PodSpec{NodeName: "aks-nodepool1-0", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.12", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
		if err := enc.Encode(&p); err != nil {
			b.Fatal(err)
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStream[corev1.Pod]("pods.jsonl", bytes.NewReader(data), 10000, slimPod); err != nil {
			b.Fatal(err)
		}
	}
}
