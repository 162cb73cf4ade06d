package snapshot

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestCollectSkipsForbidden(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "shop"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system"}, Data: map[string]string{"Corefile": ".:53 {}"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: "kube-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "kube-system"}},
	)
	forbid := func(resource string) k8stesting.ReactionFunc {
		return func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", fmt.Errorf("User \"dev\" cannot list resource %q", resource))
		}
	}
	client.PrependReactor("list", "events", forbid("events"))
	client.PrependReactor("get", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.GetAction).GetName() == "coredns-custom" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "coredns-custom", fmt.Errorf("no"))
		}
		return false, nil, nil
	})
	var secretsRead bool
	client.PrependReactor("*", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		secretsRead = true
		return false, nil, nil
	})
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s, err := Collect(context.Background(), client, CollectOptions{ToolVersion: "t", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 1 || len(s.Pods) != 1 || len(s.Services) != 1 {
		t.Errorf("got %d nodes, %d pods, %d services; want 1 each", len(s.Nodes), len(s.Pods), len(s.Services))
	}
	if len(s.ConfigMaps) != 1 || s.ConfigMaps[0].Name != "coredns" {
		t.Errorf("got configmaps %v; want only coredns", s.ConfigMaps)
	}
	if r, ok := s.Skipped("events"); !ok || !strings.Contains(r, "forbidden") {
		t.Errorf("events skip = %q, %v; want a forbidden reason", r, ok)
	}
	if r, ok := s.Skipped("configmaps"); !ok || !strings.Contains(r, "coredns-custom") {
		t.Errorf("configmaps skip = %q, %v; want coredns-custom named", r, ok)
	}
	if secretsRead {
		t.Error("Collect read Secrets; it must never")
	}
	if !s.Now().Equal(now) {
		t.Errorf("Now() = %v; want %v", s.Now(), now)
	}
}

func TestCollectNamespaceAddsKubeSystem(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "other"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system"}},
	)
	s, err := Collect(context.Background(), client, CollectOptions{Namespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range s.Pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if strings.Join(names, ",") != "shop/a,kube-system/coredns" {
		t.Errorf("got pods %v; want shop/a and kube-system/coredns", names)
	}
}

func TestCollectDropsSecretsInPods(t *testing.T) {
	client := fake.NewClientset(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop", Annotations: map[string]string{lastApplied: `{"password":"x"}`, "keep": "me"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", Args: []string{"--token=s3cret"},
			Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "s3cret"}}, Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}},
	})
	s, err := Collect(context.Background(), client, CollectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Pods[0].Spec.Containers[0]
	if c.Env != nil || c.Args != nil || s.Pods[0].Annotations[lastApplied] != "" {
		t.Errorf("pod kept env %v, args %v or last-applied; want them dropped", c.Env, c.Args)
	}
	if len(c.Ports) != 1 || s.Pods[0].Annotations["keep"] != "me" {
		t.Errorf("pod lost its ports or annotations: %+v", s.Pods[0])
	}
}
