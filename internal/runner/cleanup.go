package runner

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Leftover is one object an earlier run left.
type Leftover struct {
	// Kind is pod, daemonset or namespace.
	Kind      string
	Namespace string
	Name      string
	// Owner is the owner annotation (who created it), if any.
	Owner string
}

// String is kind/namespace/name (namespace/name for a namespace).
func (l Leftover) String() string {
	if l.Namespace == "" {
		return l.Kind + "/" + l.Name
	}
	return l.Kind + "/" + l.Namespace + "/" + l.Name
}

// CleanupOptions tunes CleanupWith.
type CleanupOptions struct {
	// DryRun lists what would be removed without removing it.
	DryRun bool
	// Namespace is where to look when a cluster-wide list is forbidden
	// (only the agent namespace's Role, deploy/rbac-probes.yaml);
	// DefaultNamespace when empty.
	Namespace string
}

// Cleanup removes everything an earlier netdoctor run left in the cluster:
// pods and DaemonSets in any namespace, and namespaces, labelled
// app.kubernetes.io/managed-by=netdoctor. It returns what it removed as
// "kind/namespace/name" (namespaces as "namespace/name") and keeps going
// after an error, returning the first.
func Cleanup(ctx context.Context, client kubernetes.Interface) (removed []string, err error) {
	left, err := CleanupWith(ctx, client, CleanupOptions{})
	for _, l := range left {
		removed = append(removed, l.String())
	}
	return removed, err
}

// CleanupWith is Cleanup with options; it returns the objects removed (or,
// with DryRun, found).
func CleanupWith(ctx context.Context, client kubernetes.Interface, opts CleanupOptions) (found []Leftover, err error) {
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue}
	var grace int64
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: &bg}
	keep := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	remove := func(l Leftover, f func() error) {
		if !opts.DryRun {
			if e := f(); e != nil && !isNotFound(e) {
				keep(fmt.Errorf("delete %s: %w", l, e))
				return
			}
		}
		found = append(found, l)
	}

	// Cluster-wide lists need cluster-wide rights; with only the agent
	// namespace's Role (deploy/rbac-probes.yaml), look there.
	fallback := opts.Namespace
	if fallback == "" {
		fallback = DefaultNamespace
	}
	dss, lerr := client.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, sel)
	if apierrors.IsForbidden(lerr) {
		dss, lerr = client.AppsV1().DaemonSets(fallback).List(ctx, sel)
	}
	if lerr != nil {
		keep(fmt.Errorf("list daemonsets: %w", lerr))
	} else {
		for _, d := range dss.Items {
			remove(Leftover{"daemonset", d.Namespace, d.Name, d.Annotations[AnnotationOwner]}, func() error {
				return client.AppsV1().DaemonSets(d.Namespace).Delete(ctx, d.Name, del)
			})
		}
	}
	pods, lerr := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, sel)
	if apierrors.IsForbidden(lerr) {
		pods, lerr = client.CoreV1().Pods(fallback).List(ctx, sel)
	}
	if lerr != nil {
		keep(fmt.Errorf("list pods: %w", lerr))
	} else {
		for _, p := range pods.Items {
			remove(Leftover{"pod", p.Namespace, p.Name, p.Annotations[AnnotationOwner]}, func() error {
				return client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, del)
			})
		}
	}
	nss, lerr := client.CoreV1().Namespaces().List(ctx, sel)
	switch {
	case apierrors.IsForbidden(lerr):
		// without namespace rights netdoctor never created one
	case lerr != nil:
		keep(fmt.Errorf("list namespaces: %w", lerr))
	default:
		for _, n := range nss.Items {
			if n.DeletionTimestamp != nil {
				continue // already going
			}
			remove(Leftover{"namespace", "", n.Name, n.Annotations[AnnotationOwner]}, func() error {
				return client.CoreV1().Namespaces().Delete(ctx, n.Name, metav1.DeleteOptions{})
			})
		}
	}
	return found, err
}
