package nodeagent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// RunError is a failed command with its output.
type RunError struct {
	Command []string
	Output  string
	Inner   error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("run %s: %v: %s", strings.Join(e.Command, " "), e.Inner, strings.TrimSpace(e.Output))
}

func (e *RunError) Unwrap() error { return e.Inner }

// run executes a command in the agent's own (the node's) namespaces.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return &RunError{Command: append([]string{name}, args...), Output: string(out), Inner: err}
	}
	return nil
}

// materializeVolumes writes configMap, secret, projected and downward API
// volumes into the pod directory and returns volume name -> host path.
func (a *Agent) materializeVolumes(pr *podRun, pod *corev1.Pod) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(pr.dir, "volumes", v.Name)
		switch {
		case v.HostPath != nil:
			p := v.HostPath.Path
			if _, err := os.Stat(p); err != nil {
				if v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathFileOrCreate {
					if f, err := os.OpenFile(p, os.O_CREATE, 0o644); err == nil {
						f.Close()
					}
				} else if v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathDirectoryOrCreate {
					_ = os.MkdirAll(p, 0o755)
				}
			}
			out[v.Name] = p
			continue
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.ConfigMap != nil:
			if err := a.writeConfigMap(ctx, pod.Namespace, dir, v.ConfigMap.Name, v.ConfigMap.Items, ptr.Deref(v.ConfigMap.Optional, false)); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.Secret != nil:
			if err := a.writeSecret(ctx, pod.Namespace, dir, v.Secret.SecretName, v.Secret.Items, ptr.Deref(v.Secret.Optional, false)); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.Projected != nil:
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			for _, src := range v.Projected.Sources {
				var err error
				switch {
				case src.ServiceAccountToken != nil:
					err = a.writeToken(ctx, pod, filepath.Join(dir, src.ServiceAccountToken.Path), src.ServiceAccountToken)
				case src.ConfigMap != nil:
					err = a.writeConfigMap(ctx, pod.Namespace, dir, src.ConfigMap.Name, src.ConfigMap.Items, ptr.Deref(src.ConfigMap.Optional, false))
				case src.Secret != nil:
					err = a.writeSecret(ctx, pod.Namespace, dir, src.Secret.Name, src.Secret.Items, ptr.Deref(src.Secret.Optional, false))
				case src.DownwardAPI != nil:
					err = writeDownward(pod, dir, src.DownwardAPI.Items)
				}
				if err != nil {
					return nil, fmt.Errorf("volume %s: %w", v.Name, err)
				}
			}
		case v.DownwardAPI != nil:
			if err := writeDownward(pod, dir, v.DownwardAPI.Items); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		default:
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		out[v.Name] = dir
	}
	return out, nil
}

func writeItems(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(items) == 0 {
		for k, v := range data {
			if err := os.WriteFile(filepath.Join(dir, k), v, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			continue
		}
		p := filepath.Join(dir, it.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, v, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) writeConfigMap(ctx context.Context, ns, dir, name string, items []corev1.KeyToPath, optional bool) error {
	cm, err := a.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("get configmap %s/%s: %w", ns, name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeItems(dir, data, items)
}

func (a *Agent) writeSecret(ctx context.Context, ns, dir, name string, items []corev1.KeyToPath, optional bool) error {
	s, err := a.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	return writeItems(dir, s.Data, items)
}

func (a *Agent) writeToken(ctx context.Context, pod *corev1.Pod, path string, p *corev1.ServiceAccountTokenProjection) error {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](24 * 3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		tr.Spec.Audiences = []string{p.Audience}
	}
	res, err := a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for %s/%s: %w", pod.Namespace, sa, err)
	}
	return os.WriteFile(path, []byte(res.Status.Token), 0o600)
}

func writeDownward(pod *corev1.Pod, dir string, items []corev1.DownwardAPIVolumeFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, it := range items {
		if it.FieldRef == nil {
			continue
		}
		var v string
		switch it.FieldRef.FieldPath {
		case "metadata.namespace":
			v = pod.Namespace
		case "metadata.name":
			v = pod.Name
		case "metadata.uid":
			v = string(pod.UID)
		default:
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}
