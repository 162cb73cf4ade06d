package snapshot

import (
	"context"
	"fmt"
	"time"

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
	c.list("nodes", func(lo metav1.ListOptions) (string, int, error) {
		l, err := client.CoreV1().Nodes().List(ctx, lo)
		if err != nil {
			return "", 0, err
		}
		for i := range l.Items {
			l.Items[i].ManagedFields = nil
		}
		s.Nodes = append(s.Nodes, l.Items...)
		return l.Continue, len(l.Items), nil
	})
	for _, ns := range namespaces {
		c.list("pods", func(lo metav1.ListOptions) (string, int, error) {
			l, err := client.CoreV1().Pods(ns).List(ctx, lo)
			if err != nil {
				return "", 0, err
			}
			for i := range l.Items {
				slimPod(&l.Items[i])
			}
			s.Pods = append(s.Pods, l.Items...)
			return l.Continue, len(l.Items), nil
		})
		c.list("services", func(lo metav1.ListOptions) (string, int, error) {
			l, err := client.CoreV1().Services(ns).List(ctx, lo)
			if err != nil {
				return "", 0, err
			}
			for i := range l.Items {
				l.Items[i].ManagedFields = nil
				slimMeta(l.Items[i].Annotations)
			}
			s.Services = append(s.Services, l.Items...)
			return l.Continue, len(l.Items), nil
		})
		c.list("endpointslices", func(lo metav1.ListOptions) (string, int, error) {
			l, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, lo)
			if err != nil {
				return "", 0, err
			}
			for i := range l.Items {
				l.Items[i].ManagedFields = nil
			}
			s.EndpointSlices = append(s.EndpointSlices, l.Items...)
			return l.Continue, len(l.Items), nil
		})
		c.list("networkpolicies", func(lo metav1.ListOptions) (string, int, error) {
			l, err := client.NetworkingV1().NetworkPolicies(ns).List(ctx, lo)
			if err != nil {
				return "", 0, err
			}
			for i := range l.Items {
				l.Items[i].ManagedFields = nil
			}
			s.NetworkPolicies = append(s.NetworkPolicies, l.Items...)
			return l.Continue, len(l.Items), nil
		})
		c.list("events", func(lo metav1.ListOptions) (string, int, error) {
			l, err := client.CoreV1().Events(ns).List(ctx, lo)
			if err != nil {
				return "", 0, err
			}
			for i := range l.Items {
				l.Items[i].ManagedFields = nil
			}
			s.Events = append(s.Events, l.Items...)
			return l.Continue, len(l.Items), nil
		})
	}
	c.list("daemonsets", func(lo metav1.ListOptions) (string, int, error) {
		l, err := client.AppsV1().DaemonSets(metav1.NamespaceSystem).List(ctx, lo)
		if err != nil {
			return "", 0, err
		}
		for i := range l.Items {
			l.Items[i].ManagedFields = nil
			slimMeta(l.Items[i].Annotations)
			l.Items[i].Spec.Template.Spec.Volumes = nil
			for j := range l.Items[i].Spec.Template.Spec.Containers {
				slimContainer(&l.Items[i].Spec.Template.Spec.Containers[j])
			}
			for j := range l.Items[i].Spec.Template.Spec.InitContainers {
				slimContainer(&l.Items[i].Spec.Template.Spec.InitContainers[j])
			}
		}
		s.DaemonSets = append(s.DaemonSets, l.Items...)
		return l.Continue, len(l.Items), nil
	})
	c.list("deployments", func(lo metav1.ListOptions) (string, int, error) {
		l, err := client.AppsV1().Deployments(metav1.NamespaceSystem).List(ctx, lo)
		if err != nil {
			return "", 0, err
		}
		for i := range l.Items {
			l.Items[i].ManagedFields = nil
			slimMeta(l.Items[i].Annotations)
			l.Items[i].Spec.Template.Spec.Volumes = nil
			for j := range l.Items[i].Spec.Template.Spec.Containers {
				slimContainer(&l.Items[i].Spec.Template.Spec.Containers[j])
			}
			for j := range l.Items[i].Spec.Template.Spec.InitContainers {
				slimContainer(&l.Items[i].Spec.Template.Spec.InitContainers[j])
			}
		}
		s.Deployments = append(s.Deployments, l.Items...)
		return l.Continue, len(l.Items), nil
	})
	var cmForbidden []string
	for _, name := range KubeSystemConfigMaps {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			cm.ManagedFields = nil
			slimMeta(cm.Annotations)
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

// list pages through one resource, recording a skip on error.
func (c *collector) list(resource string, page func(metav1.ListOptions) (string, int, error)) {
	if c.ctx.Err() != nil {
		return
	}
	if _, skipped := c.s.Skipped(resource); skipped {
		return
	}
	total := 0
	lo := metav1.ListOptions{Limit: c.pageSize}
	for {
		cont, n, err := page(lo)
		if err != nil {
			c.s.Manifest.Skipped = append(c.s.Manifest.Skipped, Skip{Resource: resource, Reason: reason(err)})
			return
		}
		total += n
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
