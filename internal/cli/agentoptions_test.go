package cli

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

func TestParseToleration(t *testing.T) {
	tests := []struct {
		in      string
		want    corev1.Toleration
		wantErr bool
	}{
		{"*", corev1.Toleration{Operator: corev1.TolerationOpExists}, false},
		{"dedicated", corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}, false},
		{"dedicated=infra", corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra"}, false},
		{"dedicated=infra:NoSchedule", corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule}, false},
		{"CriticalAddonsOnly:NoExecute", corev1.Toleration{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}, false},
		{"a=b:Sometimes", corev1.Toleration{}, true},
		{":NoSchedule", corev1.Toleration{}, true},
	}
	for _, tt := range tests {
		got, err := parseToleration(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("parseToleration(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestAgentOptionsFlags(t *testing.T) {
	var o agentOptions
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	o.addFlags(fs)
	err := fs.Parse([]string{"--image", "registry.example.com/netdoctor:v1", "--image-pull-secret", "regcred",
		"--node-selector", "agentpool=sys,kubernetes.io/os=linux", "--toleration", "dedicated=infra:NoSchedule",
		"--agent-namespace", "tools", "--timeout", "45s", "--max-parallel", "3"})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := o.runnerOptions()
	if err != nil {
		t.Fatal(err)
	}
	if ro.Image != "registry.example.com/netdoctor:v1" || ro.ImagePullSecrets[0] != "regcred" || ro.NodeSelector["agentpool"] != "sys" ||
		ro.Tolerations[0].Value != "infra" || ro.Namespace != "tools" || ro.Timeout != 45*time.Second || ro.MaxParallel != 3 || ro.Owner == "" {
		t.Errorf("runner options = %+v", ro)
	}
	var d agentOptions
	fs = pflag.NewFlagSet("y", pflag.ContinueOnError)
	d.addFlags(fs)
	_ = fs.Parse(nil)
	ro, _ = d.runnerOptions()
	if ro.Image != "ghcr.io/netdoctor/netdoctor:latest" || ro.Namespace != "netdoctor" {
		t.Errorf("default image/namespace = %q/%q", ro.Image, ro.Namespace)
	}
}
