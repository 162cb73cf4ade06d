package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// listKinds maps a resource to its list kind and API version, for the
// stand-in API server.
var listKinds = map[string][2]string{
	"pods": {"PodList", "v1"}, "events": {"EventList", "v1"}, "services": {"ServiceList", "v1"},
	"nodes": {"NodeList", "v1"}, "namespaces": {"NamespaceList", "v1"},
	"endpointslices":  {"EndpointSliceList", "discovery.k8s.io/v1"},
	"networkpolicies": {"NetworkPolicyList", "networking.k8s.io/v1"},
	"daemonsets":      {"DaemonSetList", "apps/v1"}, "deployments": {"DeploymentList", "apps/v1"},
}

// slowAPIServer answers every list with pages of perPage objects, pages
// times, each after delay, as a remote API server under load does; a Get
// (the ConfigMaps) is not found. It counts the lists in flight at most.
func slowAPIServer(t testing.TB, delay time.Duration, pages, perPage int) (*httptest.Server, *atomic.Int32) {
	var inFlight, most atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/version" {
			fmt.Fprint(w, `{"gitVersion":"v1.33.0"}`)
			return
		}
		resource := path.Base(r.URL.Path)
		kind, ok := listKinds[resource]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(delay)
		page, _ := strconv.Atoi(r.URL.Query().Get("continue"))
		cont := ""
		if page+1 < pages {
			cont = strconv.Itoa(page + 1)
		}
		items := make([]map[string]any, perPage)
		for i := range items {
			items[i] = map[string]any{"metadata": map[string]any{"name": fmt.Sprintf("%s-%d-%d", strings.TrimSuffix(resource, "s"), page, i), "namespace": "ns"}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": kind[0], "apiVersion": kind[1], "metadata": map[string]any{"continue": cont}, "items": items})
	}))
	t.Cleanup(srv.Close)
	return srv, &most
}

func TestCollectListsConcurrentlyAndPages(t *testing.T) {
	srv, most := slowAPIServer(t, 20*time.Millisecond, 3, 10)
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, QPS: 1000, Burst: 1000})
	var calls, overlapping atomic.Int32
	last := map[string]int{}
	done := map[string]bool{}
	s, err := Collect(context.Background(), client, CollectOptions{Progress: func(resource string, n int, finished bool) {
		if calls.Add(1) != 1 {
			overlapping.Store(1)
		}
		defer calls.Add(-1)
		if n < last[resource] || done[resource] {
			t.Errorf("progress %s %d (done %v) after %d", resource, n, finished, last[resource])
		}
		last[resource], done[resource] = n, finished
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pods) != 30 || len(s.Events) != 30 || len(s.Namespaces) != 30 {
		t.Errorf("got %d pods, %d events, %d namespaces; want the 3 pages of 10 each", len(s.Pods), len(s.Events), len(s.Namespaces))
	}
	if got := most.Load(); got < 2 || got > int32(maxConcurrentLists) {
		t.Errorf("%d lists in flight at most; want between 2 and %d", got, maxConcurrentLists)
	}
	if overlapping.Load() != 0 {
		t.Error("Progress calls overlapped")
	}
	for r := range listKinds {
		if !done[r] || last[r] != 30 {
			t.Errorf("progress for %s: last %d, done %v", r, last[r], done[r])
		}
	}
}

// BenchmarkCollectSlowAPIServer collects from an API server that takes 20 ms
// per page (10 pages of 500 objects per resource), listing one resource at a
// time and several at once.
func BenchmarkCollectSlowAPIServer(b *testing.B) {
	srv, _ := slowAPIServer(b, 20*time.Millisecond, 10, 500)
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, QPS: 1000, Burst: 1000})
	for _, lists := range []int{1, 4} {
		b.Run(fmt.Sprintf("lists=%d", lists), func(b *testing.B) {
			defer func(n int) { maxConcurrentLists = n }(maxConcurrentLists)
			maxConcurrentLists = lists
			for b.Loop() {
				if _, err := Collect(context.Background(), client, CollectOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
