package cli

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	nodecheck "github.com/netdoctor/netdoctor/internal/analyze/node"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// collectMetrics stores the metrics API's node and pod readings
// (metrics/nodes.json, metrics/pods.json) for the NODE003 check. A cluster
// without the metrics API is recorded as skipped, not as an error.
func collectMetrics(ctx context.Context, g *globals, snap *snapshot.Snapshot) {
	skip := func(reason string) {
		snap.Manifest.Skipped = append(snap.Manifest.Skipped, snapshot.Skip{Resource: nodecheck.MetricsResource, Reason: reason})
	}
	rc, err := g.config.ToRESTConfig()
	if err != nil {
		skip(fmt.Sprintf("load kubeconfig: %v", err))
		return
	}
	mc, err := metricsclient.NewForConfig(rc)
	if err != nil {
		skip(fmt.Sprintf("metrics client: %v", err))
		return
	}
	if err := storeMetrics(ctx, mc, snap); err != nil {
		skip(err.Error())
	}
}

// storeMetrics reads node and pod metrics into the snapshot.
func storeMetrics(ctx context.Context, mc metricsclient.Interface, snap *snapshot.Snapshot) error {
	nodes, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return explainMetrics(err)
	}
	pods := &metricsv1beta1.PodMetricsList{}
	namespaces := snap.Manifest.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		l, err := mc.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return explainMetrics(err)
		}
		pods.Items = append(pods.Items, l.Items...)
	}
	for name, v := range map[string]any{nodecheck.MetricsNodesFile: nodes, nodecheck.MetricsPodsFile: pods} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		snap.SetFile(name, append(b, '\n'))
	}
	return nil
}

func explainMetrics(err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("metrics API not available (is metrics-server installed?): %w", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("not allowed to read metrics.k8s.io (see deploy/rbac-readonly.yaml): %w", err)
	}
	return fmt.Errorf("metrics API: %w", err)
}
