package snapshot

import (
	"reflect"
	"testing"
	"unsafe"

	gojson "github.com/goccy/go-json"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// spareCapacity reports the path of the first slice in v whose capacity
// exceeds its length.
func spareCapacity(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			return spareCapacity(v.Elem(), path)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				if p := spareCapacity(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice:
		if v.Cap() > v.Len() {
			return path
		}
		for i := 0; i < v.Len(); i++ {
			if p := spareCapacity(v.Index(i), path); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestCompactKeepsContent(t *testing.T) {
	ready := true
	objs := []any{
		&corev1.Pod{},
		ptr(richPod(1)),
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"a": "b"}}, Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.4"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-1"}}}},
		&corev1.ConfigMap{Data: map[string]string{"Corefile": ".:53 {\n}\n"}, BinaryData: map[string][]byte{"b": {1, 2}}},
		&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: richPod(2).Spec}}},
	}
	for _, o := range objs {
		t.Run(reflect.TypeOf(o).Elem().Name(), func(t *testing.T) {
			// Decode as a bundle does, so that slices have spare capacity.
			data, err := gojson.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(o).Elem()).Interface()
			if err := gojson.Unmarshal(data, got); err != nil {
				t.Fatal(err)
			}
			want := reflect.New(reflect.TypeOf(o).Elem()).Interface()
			if err := gojson.Unmarshal(data, want); err != nil {
				t.Fatal(err)
			}
			newCompactor().compact(got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("compacted object differs:\n got %+v\nwant %+v", got, want)
			}
			if p := spareCapacity(reflect.ValueOf(got), ""); p != "" {
				t.Errorf("slice %s has spare capacity after compacting", p)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCompactSharesStrings(t *testing.T) {
	c := newCompactor()
	var pods []corev1.Pod
	for i := range 200 {
		data, err := gojson.Marshal(richPod(i))
		if err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if err := gojson.Unmarshal(data, &p); err != nil {
			t.Fatal(err)
		}
		c.compact(&p)
		pods = append(pods, p)
	}
	// The cache may lose a string to a collision now and then: nearly
	// every pod must share the copy most do.
	strs := map[string]func(p *corev1.Pod) string{
		"namespace":      func(p *corev1.Pod) string { return p.Namespace },
		"image":          func(p *corev1.Pod) string { return p.Spec.Containers[0].Image },
		"label value":    func(p *corev1.Pod) string { return p.Labels["app"] },
		"condition type": func(p *corev1.Pod) string { return string(p.Status.Conditions[0].Type) },
		"label key": func(p *corev1.Pod) string {
			for k := range p.Labels {
				if k == "app" {
					return k
				}
			}
			return ""
		},
	}
	for what, get := range strs {
		copies := map[*byte]int{}
		for i := range pods {
			copies[unsafe.StringData(get(&pods[i]))]++
		}
		most := 0
		for _, n := range copies {
			most = max(most, n)
		}
		if most < len(pods)*95/100 {
			t.Errorf("%s: the most shared copy is in %d of %d pods (%d copies); want 95%%", what, most, len(pods), len(copies))
		}
	}
}

// tree is a recursive type: planning it must end.
type tree struct {
	Name string
	Kids []tree
	Next *tree
}

func TestCompactRecursiveType(t *testing.T) {
	x := &tree{Name: "a", Kids: append(make([]tree, 0, 8), tree{Name: "b"}), Next: &tree{Name: "c", Kids: make([]tree, 1, 4)}}
	newCompactor().compact(x)
	if cap(x.Kids) != 1 || cap(x.Next.Kids) != 1 || x.Kids[0].Name != "b" || x.Next.Name != "c" {
		t.Errorf("compacted tree = %+v", x)
	}
}
