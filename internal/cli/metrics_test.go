package cli

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	nodecheck "github.com/netdoctor/netdoctor/internal/analyze/node"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

func TestStoreMetrics(t *testing.T) {
	mc := metricsfake.NewSimpleClientset()
	mc.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &metricsv1beta1.NodeMetricsList{Items: []metricsv1beta1.NodeMetrics{{
			ObjectMeta: metav1.ObjectMeta{Name: "n1"},
			Usage:      corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4985600Ki")},
		}}}, nil
	})
	snap := &snapshot.Snapshot{}
	if err := storeMetrics(context.Background(), mc, snap); err != nil {
		t.Fatalf("storeMetrics: %v", err)
	}
	if b, ok := snap.File(nodecheck.MetricsNodesFile); !ok || !strings.Contains(string(b), "4985600Ki") {
		t.Errorf("%s = %s, want the node reading", nodecheck.MetricsNodesFile, b)
	}
	if _, ok := snap.File(nodecheck.MetricsPodsFile); !ok {
		t.Errorf("%s missing", nodecheck.MetricsPodsFile)
	}
}

func TestStoreMetricsNotInstalled(t *testing.T) {
	mc := metricsfake.NewSimpleClientset()
	mc.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "nodes"}, "")
	})
	err := storeMetrics(context.Background(), mc, &snapshot.Snapshot{})
	if err == nil || !strings.Contains(err.Error(), "metrics API not available (is metrics-server installed?)") {
		t.Errorf("err = %v, want the metrics API explained as missing", err)
	}
}
