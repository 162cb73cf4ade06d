package snapshot

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KubeSystemConfigMaps are the kube-system ConfigMaps collected: CoreDNS,
// its AKS customisation, NodeLocal DNS and kube-proxy. No other ConfigMap
// and never a Secret is read.
var KubeSystemConfigMaps = []string{"coredns", "coredns-custom", "node-local-dns", "kube-proxy", "kube-proxy-config"}

// CollectOptions controls a live collection.
type CollectOptions struct {
	// Namespaces limits namespaced objects to these namespaces (kube-system
	// is always added); empty means every namespace.
	Namespaces []string
	// ToolVersion is recorded in the manifest.
	ToolVersion string
	// Cluster names the context or server, recorded in the manifest.
	Cluster string
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Progress, when set, is told after each resource is listed.
	Progress func(resource string, count int)
	// PageSize is the list page size; 500 when zero.
	PageSize int64
}

// Collect reads a snapshot from a live cluster. It fails only when the API
// server cannot be reached; a resource that cannot be listed (RBAC forbidden,
// not served) is recorded in Manifest.Skipped and the rest is collected.
func Collect(ctx context.Context, client kubernetes.Interface, opts CollectOptions) (*Snapshot, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	s := &Snapshot{Manifest: Manifest{
		Schema:      BundleSchema,
		ToolVersion: opts.ToolVersion,
		CollectedAt: now().UTC().Truncate(time.Second),
		Cluster:     opts.Cluster,
	}}
	sv, err := client.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("reaching the Kubernetes API server: %w", err)
	}
	s.Manifest.ServerVersion = sv.GitVersion
	namespaces := []string{metav1.NamespaceAll}
	if len(opts.Namespaces) > 0 {
		namespaces = append([]string{}, opts.Namespaces...)
		if !contains(namespaces, metav1.NamespaceSystem) {
			namespaces = append(namespaces, metav1.NamespaceSystem)
		}
		s.Manifest.Namespaces = namespaces
	}
	c := collector{ctx: ctx, s: s, opts: opts, pageSize: opts.PageSize}
	if c.pageSize == 0 {
		c.pageSize = 500
	}
	listInto(&c, "nodes", &s.Nodes, slimNode,
		func(lo metav1.ListOptions) ([]corev1.Node, string, error) {
			l, err := client.CoreV1().Nodes().List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
	// Listed whole even for a namespace-limited collection: a
	// NetworkPolicy's namespaceSelector may match any namespace.
	listInto(&c, "namespaces", &s.Namespaces, slimNamespace,
		func(lo metav1.ListOptions) ([]corev1.Namespace, string, error) {
			l, err := client.CoreV1().Namespaces().List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
	for _, ns := range namespaces {
		listInto(&c, "pods", &s.Pods, slimPod,
			func(lo metav1.ListOptions) ([]corev1.Pod, string, error) {
				l, err := client.CoreV1().Pods(ns).List(ctx, lo)
				if err != nil {
					return nil, "", err
				}
				return l.Items, l.Continue, nil
			})
		listInto(&c, "services", &s.Services, slimService,
			func(lo metav1.ListOptions) ([]corev1.Service, string, error) {
				l, err := client.CoreV1().Services(ns).List(ctx, lo)
				if err != nil {
					return nil, "", err
				}
				return l.Items, l.Continue, nil
			})
		listInto(&c, "endpointslices", &s.EndpointSlices, slimEndpointSlice,
			func(lo metav1.ListOptions) ([]discoveryv1.EndpointSlice, string, error) {
				l, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, lo)
				if err != nil {
					return nil, "", err
				}
				return l.Items, l.Continue, nil
			})
		listInto(&c, "networkpolicies", &s.NetworkPolicies, slimNetworkPolicy,
			func(lo metav1.ListOptions) ([]networkingv1.NetworkPolicy, string, error) {
				l, err := client.NetworkingV1().NetworkPolicies(ns).List(ctx, lo)
				if err != nil {
					return nil, "", err
				}
				return l.Items, l.Continue, nil
			})
		listInto(&c, "events", &s.Events, slimEvent,
			func(lo metav1.ListOptions) ([]corev1.Event, string, error) {
				l, err := client.CoreV1().Events(ns).List(ctx, lo)
				if err != nil {
					return nil, "", err
				}
				return l.Items, l.Continue, nil
			})
	}
	listInto(&c, "daemonsets", &s.DaemonSets, slimDaemonSet,
		func(lo metav1.ListOptions) ([]appsv1.DaemonSet, string, error) {
			l, err := client.AppsV1().DaemonSets(metav1.NamespaceSystem).List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
	listInto(&c, "deployments", &s.Deployments, slimDeployment,
		func(lo metav1.ListOptions) ([]appsv1.Deployment, string, error) {
			l, err := client.AppsV1().Deployments(metav1.NamespaceSystem).List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		})
	var cmForbidden []string
	for _, name := range KubeSystemConfigMaps {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			slimConfigMap(cm)
			s.ConfigMaps = append(s.ConfigMaps, *cm)
		case apierrors.IsNotFound(err):
			// Absent is a fact the analyzers read, not a skip.
		case ctx.Err() != nil:
			return nil, fmt.Errorf("collecting configmaps: %w", ctx.Err())
		default:
			cmForbidden = append(cmForbidden, fmt.Sprintf("kube-system/%s: %s", name, reason(err)))
		}
	}
	if len(cmForbidden) > 0 {
		s.Manifest.Skipped = append(s.Manifest.Skipped, Skip{Resource: "configmaps", Reason: joinReasons(cmForbidden)})
	}
	if opts.Progress != nil {
		opts.Progress("configmaps", len(s.ConfigMaps))
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("collecting: %w", ctx.Err())
	}
	return s, nil
}

type collector struct {
	ctx      context.Context
	s        *Snapshot
	opts     CollectOptions
	pageSize int64
}

// listInto pages through one resource into dst, slimming and compacting each
// object as a bundle's are when read, and recording a skip on error.
func listInto[T any](c *collector, resource string, dst *[]T, slim func(*T), page func(metav1.ListOptions) ([]T, string, error)) {
	if c.ctx.Err() != nil {
		return
	}
	if _, skipped := c.s.Skipped(resource); skipped {
		return
	}
	total := 0
	cp := newCompactor()
	lo := metav1.ListOptions{Limit: c.pageSize}
	for {
		got, cont, err := page(lo)
		if err != nil {
			c.s.Manifest.Skipped = append(c.s.Manifest.Skipped, Skip{Resource: resource, Reason: reason(err)})
			return
		}
		for i := range got {
			slim(&got[i])
			cp.compact(&got[i])
		}
		*dst = append(*dst, got...)
		total += len(got)
		if cont == "" {
			break
		}
		lo.Continue = cont
	}
	if c.opts.Progress != nil {
		c.opts.Progress(resource, total)
	}
}

// reason turns an API error into a skip reason a user can act on.
func reason(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return "forbidden by RBAC: " + err.Error()
	case apierrors.IsNotFound(err):
		return "not served by this API server: " + err.Error()
	}
	return err.Error()
}

func joinReasons(rs []string) string {
	out := rs[0]
	for _, r := range rs[1:] {
		out += "; " + r
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
