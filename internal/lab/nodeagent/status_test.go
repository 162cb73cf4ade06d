package nodeagent

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestComputeStatusPhase(t *testing.T) {
	a := NewWithClient(Config{NodeName: "n0", NodeIP: netip.MustParseAddr("10.224.0.4")}, nil)
	last := &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
	tests := []struct {
		name      string
		ctr       ctrRun
		deadlined bool
		want      corev1.PodPhase
		wantReady bool
	}{
		{"running and ready", ctrRun{running: true, ready: true}, false, corev1.PodRunning, true},
		{"exited 0", ctrRun{terminated: true, exitCode: 0, reason: "Completed"}, false, corev1.PodSucceeded, false},
		{"exited 2", ctrRun{terminated: true, exitCode: 2, reason: "Error"}, false, corev1.PodFailed, false},
		{"waiting to restart stays Running", ctrRun{waiting: "CrashLoopBackOff", last: last}, false, corev1.PodRunning, false},
		{"creating", ctrRun{}, false, corev1.PodPending, false},
		{"deadline exceeded", ctrRun{terminated: true, exitCode: 137}, true, corev1.PodFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.ctr
			c.name = "c"
			pr := &podRun{ip: netip.MustParseAddr("10.244.0.2"), startedAt: time.Now(), containers: []*ctrRun{&c}, deadlined: tt.deadlined}
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
			st := a.computeStatus(pr, pod)
			if st.Phase != tt.want {
				t.Errorf("phase %s, want %s", st.Phase, tt.want)
			}
			ready := false
			for _, cond := range st.Conditions {
				if cond.Type == corev1.PodReady {
					ready = cond.Status == corev1.ConditionTrue
				}
			}
			if ready != tt.wantReady {
				t.Errorf("ready %v, want %v", ready, tt.wantReady)
			}
			if st.PodIP != "10.244.0.2" {
				t.Errorf("podIP %q", st.PodIP)
			}
		})
	}
}

func TestContainerKind(t *testing.T) {
	tests := []struct {
		image string
		want  ctrKind
	}{
		{"ghcr.io/netdoctor/netdoctor:v0.1.0", kindProcess},
		{"mcr.microsoft.com/oss/v2/kubernetes/coredns:v1.12.4", kindProcess},
		{"registry.k8s.io/dns/k8s-dns-node-cache:1.26.4", kindNodeCache},
		{"ndlab-load:latest", kindLoad},
		{"nginx", kindServer},
	}
	for _, tt := range tests {
		if got := containerKind(tt.image); got != tt.want {
			t.Errorf("containerKind(%s) = %v, want %v", tt.image, got, tt.want)
		}
	}
}

func TestUnpullable(t *testing.T) {
	for image, want := range map[string]bool{
		"registry.invalid/netdoctor:1":               true,
		"registry.invalid:5000/netdoctor:1":          true,
		"ghcr.io/netdoctor/netdoctor:does-not-exist": true,
		"ghcr.io/netdoctor/netdoctor:v1":             false,
		"busybox":                                    false,
	} {
		if got := unpullable(image); got != want {
			t.Errorf("unpullable(%s) = %v, want %v", image, got, want)
		}
	}
}
