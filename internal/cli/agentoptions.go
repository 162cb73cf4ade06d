package cli

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/version"
)

// agentOptions are the flags of every command that runs netdoctor's agent
// in the cluster (collect/diagnose --node-data, dns, probe).
type agentOptions struct {
	image            string
	imagePullSecrets []string
	nodeSelector     map[string]string
	tolerations      []string
	namespace        string
	timeout          time.Duration
	maxParallel      int
}

// addFlags registers the agent flags on fs.
func (o *agentOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.image, "image", "", "agent image (default "+runner.DefaultImage(version.String())+"); mirror it for private or air-gapped registries")
	fs.StringSliceVar(&o.imagePullSecrets, "image-pull-secret", nil, "name of a docker-registry secret in the agent namespace for pulling --image (repeatable)")
	fs.StringToStringVar(&o.nodeSelector, "node-selector", nil, "run the agent only on nodes with these labels (k=v,k2=v2)")
	fs.StringArrayVar(&o.tolerations, "toleration", nil, "agent pod toleration: key, key=value, key:Effect or key=value:Effect (repeatable; default: tolerate every taint)")
	fs.StringVar(&o.namespace, "agent-namespace", runner.DefaultNamespace, "namespace for the agent pods (created and removed when missing)")
	fs.DurationVar(&o.timeout, "timeout", runner.DefaultTimeout, "how long one agent pod may take to start and answer")
	fs.IntVar(&o.maxParallel, "max-parallel", runner.DefaultMaxParallel, "at most this many agent pods at once")
}

// runnerOptions turns the flags into runner.Options.
func (o *agentOptions) runnerOptions() (runner.Options, error) {
	tols := make([]corev1.Toleration, 0, len(o.tolerations))
	for _, s := range o.tolerations {
		t, err := parseToleration(s)
		if err != nil {
			return runner.Options{}, usageError("--toleration %q: %v", s, err)
		}
		tols = append(tols, t)
	}
	if o.timeout < 0 {
		return runner.Options{}, usageError("--timeout must not be negative")
	}
	if o.maxParallel < 0 {
		return runner.Options{}, usageError("--max-parallel must not be negative")
	}
	image := o.image
	if image == "" {
		image = runner.DefaultImage(version.String())
	}
	return runner.Options{
		Namespace:        o.namespace,
		Image:            image,
		ImagePullSecrets: o.imagePullSecrets,
		NodeSelector:     o.nodeSelector,
		Tolerations:      tols,
		Timeout:          o.timeout,
		MaxParallel:      o.maxParallel,
		Owner:            ownerMarker(),
	}, nil
}

// newRunner builds a runner against the cluster of the global flags. The
// caller must defer r.Close.
func (o *agentOptions) newRunner(g *globals) (*runner.Runner, error) {
	opts, err := o.runnerOptions()
	if err != nil {
		return nil, err
	}
	client, err := g.kubeClient()
	if err != nil {
		return nil, err
	}
	return runner.New(client, opts), nil
}

// parseToleration parses key, key=value, key:Effect, key=value:Effect, or
// "*" (tolerate everything).
func parseToleration(s string) (corev1.Toleration, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return corev1.Toleration{Operator: corev1.TolerationOpExists}, nil
	}
	var t corev1.Toleration
	if i := strings.LastIndex(s, ":"); i >= 0 {
		eff := corev1.TaintEffect(s[i+1:])
		switch eff {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			t.Effect = eff
		default:
			return t, fmt.Errorf("unknown effect %q (want NoSchedule, PreferNoSchedule or NoExecute)", s[i+1:])
		}
		s = s[:i]
	}
	k, v, hasVal := strings.Cut(s, "=")
	if k == "" {
		return t, fmt.Errorf("missing key")
	}
	t.Key = k
	if hasVal {
		t.Operator, t.Value = corev1.TolerationOpEqual, v
	} else {
		t.Operator = corev1.TolerationOpExists
	}
	return t, nil
}

// ownerMarker says who created an agent pod: user@host pid N.
func ownerMarker() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
}
