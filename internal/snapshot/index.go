package snapshot

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Index holds lookup tables over a snapshot so analyzers never scan
// pods x services. Slices hold pointers into the snapshot's own slices.
type Index struct {
	nodes      map[string]*corev1.Node
	namespaces map[string]*corev1.Namespace
	podsByNS   map[string][]*corev1.Pod
	podsByName map[string]*corev1.Pod
	// labels maps namespace -> "key=value" -> pods carrying that label.
	labels     map[string]map[string][]*corev1.Pod
	services   map[string]*corev1.Service
	slices     map[string][]*discoveryv1.EndpointSlice
	events     map[string][]*corev1.Event
	configMaps map[string]*corev1.ConfigMap
	policies   map[string][]*networkingv1.NetworkPolicy
}

func key(ns, name string) string { return ns + "/" + name }

func buildIndex(s *Snapshot) *Index {
	ix := &Index{
		nodes:      make(map[string]*corev1.Node, len(s.Nodes)),
		namespaces: make(map[string]*corev1.Namespace, len(s.Namespaces)),
		podsByNS:   map[string][]*corev1.Pod{},
		podsByName: make(map[string]*corev1.Pod, len(s.Pods)),
		labels:     map[string]map[string][]*corev1.Pod{},
		services:   make(map[string]*corev1.Service, len(s.Services)),
		slices:     map[string][]*discoveryv1.EndpointSlice{},
		events:     map[string][]*corev1.Event{},
		configMaps: map[string]*corev1.ConfigMap{},
		policies:   map[string][]*networkingv1.NetworkPolicy{},
	}
	for i := range s.Nodes {
		ix.nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	for i := range s.Namespaces {
		ix.namespaces[s.Namespaces[i].Name] = &s.Namespaces[i]
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		ix.podsByNS[p.Namespace] = append(ix.podsByNS[p.Namespace], p)
		ix.podsByName[key(p.Namespace, p.Name)] = p
		byLabel := ix.labels[p.Namespace]
		if byLabel == nil {
			byLabel = map[string][]*corev1.Pod{}
			ix.labels[p.Namespace] = byLabel
		}
		for k, v := range p.Labels {
			kv := k + "=" + v
			byLabel[kv] = append(byLabel[kv], p)
		}
	}
	for i := range s.Services {
		svc := &s.Services[i]
		ix.services[key(svc.Namespace, svc.Name)] = svc
	}
	for i := range s.EndpointSlices {
		es := &s.EndpointSlices[i]
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := key(es.Namespace, svc)
			ix.slices[k] = append(ix.slices[k], es)
		}
	}
	for i := range s.Events {
		ev := &s.Events[i]
		o := ev.InvolvedObject
		k := o.Kind + "/" + key(o.Namespace, o.Name)
		ix.events[k] = append(ix.events[k], ev)
	}
	for _, evs := range ix.events {
		sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	}
	for i := range s.ConfigMaps {
		cm := &s.ConfigMaps[i]
		ix.configMaps[key(cm.Namespace, cm.Name)] = cm
	}
	for i := range s.NetworkPolicies {
		np := &s.NetworkPolicies[i]
		ix.policies[np.Namespace] = append(ix.policies[np.Namespace], np)
	}
	return ix
}

// Node returns a node by name.
func (ix *Index) Node(name string) *corev1.Node { return ix.nodes[name] }

// NamespaceLabels returns a namespace's labels, and false when the namespace
// was not collected (namespaces not listed, or the bundle predates them).
func (ix *Index) NamespaceLabels(name string) (map[string]string, bool) {
	ns, ok := ix.namespaces[name]
	if !ok {
		return nil, false
	}
	if _, ok := ns.Labels[corev1.LabelMetadataName]; ok {
		return ns.Labels, true
	}
	// The API server sets it on every namespace; a hand-made bundle may not.
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range ns.Labels {
		l[k] = v
	}
	return l, true
}

// Pod returns a pod by namespace and name.
func (ix *Index) Pod(ns, name string) *corev1.Pod { return ix.podsByName[key(ns, name)] }

// PodsInNamespace returns the pods of a namespace.
func (ix *Index) PodsInNamespace(ns string) []*corev1.Pod { return ix.podsByNS[ns] }

// Service returns a Service by namespace and name.
func (ix *Index) Service(ns, name string) *corev1.Service { return ix.services[key(ns, name)] }

// EndpointSlices returns the EndpointSlices of a Service.
func (ix *Index) EndpointSlices(ns, service string) []*discoveryv1.EndpointSlice {
	return ix.slices[key(ns, service)]
}

// Events returns the events about an object, oldest first.
func (ix *Index) Events(kind, ns, name string) []*corev1.Event {
	return ix.events[kind+"/"+key(ns, name)]
}

// ConfigMap returns a collected ConfigMap.
func (ix *Index) ConfigMap(ns, name string) *corev1.ConfigMap { return ix.configMaps[key(ns, name)] }

// NetworkPolicies returns the NetworkPolicies of a namespace.
func (ix *Index) NetworkPolicies(ns string) []*networkingv1.NetworkPolicy { return ix.policies[ns] }

// SelectPods returns the pods of ns whose labels match every key=value of
// selector (a Service selector). An empty selector selects nothing, as for
// Services. It intersects the label postings, starting from the shortest.
func (ix *Index) SelectPods(ns string, selector map[string]string) []*corev1.Pod {
	if len(selector) == 0 {
		return nil
	}
	byLabel := ix.labels[ns]
	var lists [][]*corev1.Pod
	for k, v := range selector {
		l := byLabel[k+"="+v]
		if len(l) == 0 {
			return nil
		}
		lists = append(lists, l)
	}
	sort.Slice(lists, func(i, j int) bool { return len(lists[i]) < len(lists[j]) })
	out := lists[0]
	for _, other := range lists[1:] {
		in := make(map[*corev1.Pod]bool, len(other))
		for _, p := range other {
			in[p] = true
		}
		var kept []*corev1.Pod
		for _, p := range out {
			if in[p] {
				kept = append(kept, p)
			}
		}
		out = kept
		if len(out) == 0 {
			return nil
		}
	}
	return out
}

// eventTime is the most recent time an event was seen.
func eventTime(ev *corev1.Event) (t metaTime) {
	switch {
	case !ev.LastTimestamp.IsZero():
		return metaTime(ev.LastTimestamp.Time)
	case !ev.EventTime.IsZero():
		return metaTime(ev.EventTime.Time)
	case !ev.FirstTimestamp.IsZero():
		return metaTime(ev.FirstTimestamp.Time)
	}
	return metaTime(ev.CreationTimestamp.Time)
}

// LabelValues returns, for a label key, each value pods of ns carry with
// the number of pods and one pod's name, sorted by value.
func (ix *Index) LabelValues(ns, key string) []LabelValue {
	var out []LabelValue
	for kv, pods := range ix.labels[ns] {
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			out = append(out, LabelValue{Value: v, Pods: len(pods), Example: pods[0].Name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

// LabelValue is one value of a label key in a namespace.
type LabelValue struct {
	Value   string
	Pods    int
	Example string
}

// SelectorString renders a map selector as sorted k=v pairs, the form
// 'kubectl -l' takes.
func SelectorString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}
