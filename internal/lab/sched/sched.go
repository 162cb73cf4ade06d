// Package sched is the lab's scheduler: it binds pending pods to nodes by
// creating Binding objects, as kube-scheduler does. It honours nodeName,
// nodeSelector and required node affinity on metadata.name (which the
// DaemonSet controller sets) and places other pods round-robin over Ready
// nodes. Pods that fit nowhere get a PodScheduled=False condition with the
// scheduler's wording.
package sched

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Scheduler binds pods to nodes.
type Scheduler struct {
	client kubernetes.Interface
	logf   func(string, ...any)
	mu     sync.Mutex
	next   int
	nodes  cache.Indexer
	queue  chan string
}

// New returns a scheduler using client.
func New(client kubernetes.Interface, logf func(string, ...any)) *Scheduler {
	return &Scheduler{client: client, logf: logf, queue: make(chan string, 1024)}
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactory(s.client, 0)
	nodeInf := f.Core().V1().Nodes().Informer()
	s.nodes = nodeInf.GetIndexer()
	pf := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "").String()
	}))
	podInf := pf.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			select {
			case s.queue <- key:
			default:
			}
		}
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }}); err != nil {
		return fmt.Errorf("add handler: %w", err)
	}
	// A new or changed node may make pending pods fit.
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) {
		for _, o := range podInf.GetStore().List() {
			enqueue(o)
		}
	}}); err != nil {
		return fmt.Errorf("add handler: %w", err)
	}
	f.Start(ctx.Done())
	pf.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	pf.WaitForCacheSync(ctx.Done())
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-retry.C:
			for _, o := range podInf.GetStore().List() {
				enqueue(o)
			}
		case key := <-s.queue:
			obj, ok, _ := podInf.GetStore().GetByKey(key)
			if !ok {
				continue
			}
			pod := obj.(*corev1.Pod)
			if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
				continue
			}
			if err := s.schedule(ctx, pod); err != nil && ctx.Err() == nil {
				s.logf("schedule %s: %v", key, err)
			}
		}
	}
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// fits reports whether pod may run on node by nodeSelector and required
// node affinity (matchFields metadata.name and matchExpressions on labels).
func fits(pod *corev1.Pod, n *corev1.Node) bool {
	if !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
		return false
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, t := range terms {
		if termMatches(t, n) {
			return true
		}
	}
	return len(terms) == 0
}

func termMatches(t corev1.NodeSelectorTerm, n *corev1.Node) bool {
	for _, f := range t.MatchFields {
		if f.Key != "metadata.name" {
			return false
		}
		in := false
		for _, v := range f.Values {
			if v == n.Name {
				in = true
			}
		}
		if (f.Operator == corev1.NodeSelectorOpIn) != in {
			return false
		}
	}
	for _, e := range t.MatchExpressions {
		v, has := n.Labels[e.Key]
		in := false
		for _, x := range e.Values {
			if x == v {
				in = true
			}
		}
		switch e.Operator {
		case corev1.NodeSelectorOpIn:
			if !has || !in {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if has && in {
				return false
			}
		case corev1.NodeSelectorOpExists:
			if !has {
				return false
			}
		case corev1.NodeSelectorOpDoesNotExist:
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (s *Scheduler) schedule(ctx context.Context, pod *corev1.Pod) error {
	var all []*corev1.Node
	for _, o := range s.nodes.List() {
		all = append(all, o.(*corev1.Node))
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	var cands []*corev1.Node
	notReady, mismatch := 0, 0
	for _, n := range all {
		switch {
		case !ready(n):
			notReady++
		case !fits(pod, n):
			mismatch++
		default:
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		msg := fmt.Sprintf("0/%d nodes are available:", len(all))
		if mismatch > 0 {
			msg += fmt.Sprintf(" %d node(s) didn't match Pod's node affinity/selector.", mismatch)
		}
		if notReady > 0 {
			msg += fmt.Sprintf(" %d node(s) had untolerated taint {node.kubernetes.io/not-ready: }.", notReady)
		}
		if len(all) == 0 {
			msg = "no nodes available to schedule pods"
		}
		return s.unschedulable(ctx, pod, msg)
	}
	s.mu.Lock()
	n := cands[s.next%len(cands)]
	s.next++
	s.mu.Unlock()
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: n.Name},
	}
	if err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bind to %s: %w", n.Name, err)
	}
	s.event(ctx, pod, corev1.EventTypeNormal, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, n.Name))
	return nil
}

func (s *Scheduler) unschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == msg {
			return nil
		}
	}
	p := pod.DeepCopy()
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now()}
	replaced := false
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			p.Status.Conditions[i] = cond
			replaced = true
		}
	}
	if !replaced {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	p.Status.Phase = corev1.PodPending
	if _, err := s.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark unschedulable: %w", err)
	}
	s.event(ctx, pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	return nil
}

func (s *Scheduler) event(ctx context.Context, pod *corev1.Pod, typ, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         reason, Message: msg, Type: typ,
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "default-scheduler",
	}
	if _, err := s.client.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
		s.logf("event: %v", err)
	}
}
