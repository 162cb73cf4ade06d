package runner

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Cleanup removes everything an earlier netdoctor run left in the cluster:
// pods and DaemonSets in any namespace, and namespaces, labelled
// app.kubernetes.io/managed-by=netdoctor. It returns what it removed as
// "kind/namespace/name" (namespaces as "namespace/name") and keeps going
// after an error, returning the first.
func Cleanup(ctx context.Context, client kubernetes.Interface) (removed []string, err error) {
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue}
	var grace int64
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: &bg}
	keep := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}

	// Cluster-wide lists need the read-only ClusterRole; with only the
	// agent namespace's Role (deploy/rbac-probes.yaml), look there.
	scope := metav1.NamespaceAll
	if _, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel.LabelSelector, Limit: 1}); apierrors.IsForbidden(err) {
		scope = DefaultNamespace
	}
	dss, lerr := client.AppsV1().DaemonSets(scope).List(ctx, sel)
	if lerr != nil {
		keep(fmt.Errorf("list daemonsets: %w", lerr))
	} else {
		for _, d := range dss.Items {
			if e := client.AppsV1().DaemonSets(d.Namespace).Delete(ctx, d.Name, del); e != nil && !isNotFound(e) {
				keep(fmt.Errorf("delete daemonset %s/%s: %w", d.Namespace, d.Name, e))
				continue
			}
			removed = append(removed, "daemonset/"+d.Namespace+"/"+d.Name)
		}
	}
	pods, lerr := client.CoreV1().Pods(scope).List(ctx, sel)
	if lerr != nil {
		keep(fmt.Errorf("list pods: %w", lerr))
	} else {
		for _, p := range pods.Items {
			if e := client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, del); e != nil && !isNotFound(e) {
				keep(fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, e))
				continue
			}
			removed = append(removed, "pod/"+p.Namespace+"/"+p.Name)
		}
	}
	nss, lerr := client.CoreV1().Namespaces().List(ctx, sel)
	if apierrors.IsForbidden(lerr) && scope != metav1.NamespaceAll {
		// without namespace rights netdoctor never created one
	} else if lerr != nil {
		keep(fmt.Errorf("list namespaces: %w", lerr))
	} else {
		for _, n := range nss.Items {
			if n.DeletionTimestamp != nil {
				continue // already going
			}
			if e := client.CoreV1().Namespaces().Delete(ctx, n.Name, metav1.DeleteOptions{}); e != nil && !isNotFound(e) {
				keep(fmt.Errorf("delete namespace %s: %w", n.Name, e))
				continue
			}
			removed = append(removed, "namespace/"+n.Name)
		}
	}
	return removed, err
}
