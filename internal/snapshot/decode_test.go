package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	corev1 "k8s.io/api/core/v1"
	kresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// richPod is a pod with every kind of field the compactor visits: slices of
// structs, nested pointers, string maps, quantities and times.
func richPod(i int) corev1.Pod {
	t := metav1.NewTime(metav1.Now().Rfc3339Copy().Time)
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("web-%d", i), Namespace: "shop", CreationTimestamp: t,
			Labels:          map[string]string{"app": "web", "tier": "frontend"},
			Annotations:     map[string]string{lastApplied: "{}", "note": "kept"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Containers: []corev1.Container{{
				Name: "web", Image: "nginx:1.27", Env: []corev1.EnvVar{{Name: "TOKEN", Value: "secret"}},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: kresource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: kresource.MustParse("128Mi")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
			}},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.0.%d", i%250), StartTime: &t,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", Ready: true, RestartCount: 2,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
			}},
		},
	}
}

func jsonLines(t testing.TB, pods []corev1.Pod) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := encodeLines(&buf, pods); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeStdlib decodes JSON lines with encoding/json, the reference.
func decodeStdlib(t *testing.T, data []byte, slim func(*corev1.Pod)) []corev1.Pod {
	t.Helper()
	var out []corev1.Pod
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var p corev1.Pod
		if err := json.Unmarshal(line, &p); err != nil {
			t.Fatal(err)
		}
		slim(&p)
		out = append(out, p)
	}
	return out
}

func TestDecodeStreamEqualsStdlib(t *testing.T) {
	var pods []corev1.Pod
	for i := range 3000 {
		pods = append(pods, richPod(i))
	}
	data := jsonLines(t, pods)
	if len(data) < 3*chunkSize {
		t.Fatalf("test data is %d bytes; it must span several chunks", len(data))
	}
	want := decodeStdlib(t, data, slimPod)
	readers := map[string]func() io.Reader{
		"whole":      func() io.Reader { return bytes.NewReader(data) },
		"byte reads": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half reads": func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
	}
	for name, r := range readers {
		for _, hint := range []int{0, 1, len(pods), 10 * len(pods)} {
			t.Run(fmt.Sprintf("%s/hint %d", name, hint), func(t *testing.T) {
				got, err := decodeStream("pods.jsonl", r(), hint, slimPod)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("decoded %d pods; want %d", len(got), len(want))
				}
				if cap(got) != len(got) {
					t.Errorf("result capacity %d; want its length %d", cap(got), len(got))
				}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("pod %d differs from encoding/json's:\n got %+v\nwant %+v", i, got[i], want[i])
					}
				}
			})
		}
	}
}

func TestDecodeStreamLines(t *testing.T) {
	pod := func(name string) string { return `{"metadata":{"name":"` + name + `"}}` }
	long := pod(strings.Repeat("x", 2*chunkSize)) // longer than a chunk
	cases := []struct {
		name  string
		input string
		want  []string
	}{
		{"empty", "", nil},
		{"no final newline", pod("a") + "\n" + pod("b"), []string{"a", "b"}},
		{"blank lines and CRLF", "\n" + pod("a") + "\r\n\n  \n" + pod("b") + "\n\n", []string{"a", "b"}},
		{"line longer than a chunk", pod("a") + "\n" + long + "\n" + pod("c") + "\n", []string{"a", strings.Repeat("x", 2*chunkSize), "c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeStream[corev1.Pod]("pods.jsonl", strings.NewReader(c.input), 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if !reflect.DeepEqual(names, c.want) {
				t.Errorf("decoded %d pods %.40q; want %.40q", len(names), names, c.want)
			}
		})
	}
}

func TestDecodeStreamErrors(t *testing.T) {
	var pods []corev1.Pod
	for i := range 2000 {
		pods = append(pods, richPod(i))
	}
	lines := strings.Split(string(jsonLines(t, pods)), "\n")
	bad := func(at map[int]string) string {
		l := append([]string{}, lines...)
		for i, s := range at {
			l[i] = s
		}
		return strings.Join(l, "\n")
	}
	cases := []struct {
		name  string
		input io.Reader
		want  string
	}{
		{"syntax error in the first chunk", strings.NewReader(bad(map[int]string{3: `{"metadata": {"name": "p", }`})), "pods.jsonl:4:"},
		{"syntax error in a later chunk", strings.NewReader(bad(map[int]string{1500: `{"metadata": `})), "pods.jsonl:1501:"},
		{"type error", strings.NewReader(bad(map[int]string{1999: `{"spec": {"containers": 3}}`})), "pods.jsonl:2000:"},
		{"two errors: the first wins", strings.NewReader(bad(map[int]string{10: "[", 1900: "{"})), "pods.jsonl:11:"},
		{"reader fails", io.MultiReader(strings.NewReader(lines[0]+"\n"+lines[1][:50]), iotest.ErrReader(io.ErrUnexpectedEOF)), "pods.jsonl: line 2: unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeStream("pods.jsonl", c.input, 0, slimPod)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v; want one containing %q", err, c.want)
			}
			var be *BundleError
			if strings.HasSuffix(c.want, ":") && !errors.As(err, &be) {
				t.Errorf("error %T is not a *BundleError", err)
			}
		})
	}
}

// FuzzDecodeStream: whatever the bytes, decoding returns pods or an error
// naming the file, never panics, and agrees on the count with a line split.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"a","labels":{"x":"y"}},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80}]}]}}` + "\n"))
	f.Add([]byte("\n\n{}\r\n{\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}"))
	f.Add([]byte(`{"spec":{"containers":3}}`))
	f.Add([]byte(`{"metadata":{"creationTimestamp":"yesterday"}}`))
	f.Add([]byte(`{"spec":{"containers":[{"resources":{"limits":{"cpu":"1e1000"}}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pods, err := decodeStream("pods.jsonl", bytes.NewReader(data), 2, slimPod)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pods.jsonl") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		n := 0
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				n++
			}
		}
		if len(pods) != n {
			t.Fatalf("decoded %d pods from %d non-blank lines", len(pods), n)
		}
	})
}

// panicky panics when decoded, as a decoder bug would.
type panicky struct{}

func (*panicky) UnmarshalJSON([]byte) error { panic("decoder bug") }

func TestDecodeStreamPanicIsAnError(t *testing.T) {
	_, err := decodeStream[panicky]("x.jsonl", strings.NewReader("{}\n{}\n"), 2, nil)
	if err == nil || !strings.Contains(err.Error(), "x.jsonl:1: cannot decode: decoder bug") {
		t.Errorf("error = %v; want x.jsonl:1 named with the panic", err)
	}
}
