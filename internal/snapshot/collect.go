package snapshot

import (
	"context"
	"fmt"
	"sort"
	"sync"
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
	// Progress, when set, is told the count of a resource listed so far
	// after each page, and when it is done. Calls never overlap.
	Progress func(resource string, count int, done bool)
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
	all, kubeSystem := []string{metav1.NamespaceAll}, []string{metav1.NamespaceSystem}
	// Each resource is listed by a goroutine of its own, a few at a time:
	// on a large cluster the API server's latency, not the client, bounds
	// a list, so the pods, events and EndpointSlices overlap. The largest
	// start first.
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxConcurrentLists)
	run := func(list func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			list()
		}()
	}
	core, disc, netw, apps := client.CoreV1(), client.DiscoveryV1(), client.NetworkingV1(), client.AppsV1()
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*corev1.PodList, error) { return core.Pods(ns).List(ctx, lo) }
		listInto(&c, "pods", namespaces, &s.Pods, slimPod, pages(list, func(l *corev1.PodList) []corev1.Pod { return l.Items }))
	})
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*corev1.EventList, error) {
			return core.Events(ns).List(ctx, lo)
		}
		listInto(&c, "events", namespaces, &s.Events, slimEvent, pages(list, func(l *corev1.EventList) []corev1.Event { return l.Items }))
	})
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*discoveryv1.EndpointSliceList, error) {
			return disc.EndpointSlices(ns).List(ctx, lo)
		}
		listInto(&c, "endpointslices", namespaces, &s.EndpointSlices, slimEndpointSlice, pages(list, func(l *discoveryv1.EndpointSliceList) []discoveryv1.EndpointSlice { return l.Items }))
	})
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*corev1.ServiceList, error) {
			return core.Services(ns).List(ctx, lo)
		}
		listInto(&c, "services", namespaces, &s.Services, slimService, pages(list, func(l *corev1.ServiceList) []corev1.Service { return l.Items }))
	})
	run(func() {
		list := func(_ string, lo metav1.ListOptions) (*corev1.NodeList, error) { return core.Nodes().List(ctx, lo) }
		listInto(&c, "nodes", all, &s.Nodes, slimNode, pages(list, func(l *corev1.NodeList) []corev1.Node { return l.Items }))
	})
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*networkingv1.NetworkPolicyList, error) {
			return netw.NetworkPolicies(ns).List(ctx, lo)
		}
		listInto(&c, "networkpolicies", namespaces, &s.NetworkPolicies, slimNetworkPolicy, pages(list, func(l *networkingv1.NetworkPolicyList) []networkingv1.NetworkPolicy { return l.Items }))
	})
	// Listed whole even for a namespace-limited collection: a
	// NetworkPolicy's namespaceSelector may match any namespace.
	run(func() {
		list := func(_ string, lo metav1.ListOptions) (*corev1.NamespaceList, error) {
			return core.Namespaces().List(ctx, lo)
		}
		listInto(&c, "namespaces", all, &s.Namespaces, slimNamespace, pages(list, func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items }))
	})
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*appsv1.DaemonSetList, error) {
			return apps.DaemonSets(ns).List(ctx, lo)
		}
		listInto(&c, "daemonsets", kubeSystem, &s.DaemonSets, slimDaemonSet, pages(list, func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items }))
	})
	run(func() {
		list := func(ns string, lo metav1.ListOptions) (*appsv1.DeploymentList, error) {
			return apps.Deployments(ns).List(ctx, lo)
		}
		listInto(&c, "deployments", kubeSystem, &s.Deployments, slimDeployment, pages(list, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }))
	})
	run(func() { c.configMaps(client) })
	wg.Wait()
	sort.Slice(s.Manifest.Skipped, func(i, j int) bool { return s.Manifest.Skipped[i].Resource < s.Manifest.Skipped[j].Resource })
	if ctx.Err() != nil {
		return nil, fmt.Errorf("collecting: %w", ctx.Err())
	}
	return s, nil
}

// maxConcurrentLists is how many resources are listed at once (a variable
// so that BenchmarkCollectSlowAPIServer can compare one at a time).
var maxConcurrentLists = 4

type collector struct {
	ctx      context.Context
	s        *Snapshot
	opts     CollectOptions
	pageSize int64
	mu       sync.Mutex // guards s.Manifest.Skipped and opts.Progress calls
}

func (c *collector) skip(resource, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Manifest.Skipped = append(c.s.Manifest.Skipped, Skip{Resource: resource, Reason: why})
}

func (c *collector) progress(resource string, n int, done bool) {
	if c.opts.Progress == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.Progress(resource, n, done)
}

// configMaps gets the kube-system ConfigMaps netdoctor reads, by name.
func (c *collector) configMaps(client kubernetes.Interface) {
	var (
		cms       []corev1.ConfigMap
		forbidden []string
	)
	for _, name := range KubeSystemConfigMaps {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(c.ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			slimConfigMap(cm)
			cms = append(cms, *cm)
		case apierrors.IsNotFound(err):
			// Absent is a fact the analyzers read, not a skip.
		case c.ctx.Err() != nil:
			return
		default:
			forbidden = append(forbidden, fmt.Sprintf("kube-system/%s: %s", name, reason(err)))
		}
	}
	c.s.ConfigMaps = cms
	if len(forbidden) > 0 {
		c.skip("configmaps", joinReasons(forbidden))
	}
	c.progress("configmaps", len(cms), true)
}

// pages adapts a typed client's List to listInto: the page's items and
// its continue token.
func pages[L interface{ GetContinue() string }, T any](list func(ns string, lo metav1.ListOptions) (L, error), items func(L) []T) func(string, metav1.ListOptions) ([]T, string, error) {
	return func(ns string, lo metav1.ListOptions) ([]T, string, error) {
		l, err := list(ns, lo)
		if err != nil {
			return nil, "", err
		}
		return items(l), l.GetContinue(), nil
	}
}

// listInto pages through one resource in each of namespaces ("" for all, or
// a cluster-scoped resource) into dst, slimming and compacting each object
// as a bundle's are when read, and telling progress page by page. An error
// records the resource as skipped and ends its listing.
func listInto[T any](c *collector, resource string, namespaces []string, dst *[]T, slim func(*T), page func(ns string, lo metav1.ListOptions) ([]T, string, error)) {
	total := 0
	cp := newCompactor()
	for _, ns := range namespaces {
		lo := metav1.ListOptions{Limit: c.pageSize}
		for {
			if c.ctx.Err() != nil {
				return
			}
			got, cont, err := page(ns, lo)
			if err != nil {
				c.skip(resource, reason(err))
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
			c.progress(resource, total, false)
			lo.Continue = cont
		}
	}
	c.progress(resource, total, true)
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
