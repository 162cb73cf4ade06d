package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Target is a resolved place to run commands: a network namespace plus the
// resolv.conf its processes see.
type Target struct {
	// NetNS is the network namespace name.
	NetNS string
	// ResolvConf is bound over /etc/resolv.conf (empty: the machine's).
	ResolvConf string
	// Hostname is set in the command's UTS namespace.
	Hostname string
}

// Resolve turns a target name into a Target: a node (name, index, "n0",
// "node-0"), "namespace/pod", or a fixed host: cp, edge, inet, upstream, nva.
func (l *Lab) Resolve(ctx context.Context, target string) (Target, error) {
	switch target {
	case "cp", "control-plane":
		return Target{NetNS: l.nsName("cp"), Hostname: "ndlab-cp"}, nil
	case "edge":
		return Target{NetNS: l.nsName("edge"), Hostname: "ndlab-edge"}, nil
	case "inet", "internet":
		return Target{NetNS: l.nsName("inet"), Hostname: "ndlab-inet"}, nil
	case "upstream":
		return Target{NetNS: l.nsName("upstream"), Hostname: "ndlab-upstream"}, nil
	case "nva":
		return Target{NetNS: l.nsName("nva"), Hostname: "ndlab-nva"}, nil
	}
	if n, ok := l.node(target); ok {
		return Target{NetNS: n.NetNS, ResolvConf: filepath.Join(l.RunDir(), "nodes", n.Name, "resolv.conf"), Hostname: n.Name}, nil
	}
	ns, name, ok := strings.Cut(target, "/")
	if !ok {
		return Target{}, fmt.Errorf("unknown target %q: want a node, namespace/pod, cp, edge, inet, upstream or nva", target)
	}
	pod, err := l.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Target{}, fmt.Errorf("target %s: %w", target, err)
	}
	return l.podTarget(pod)
}

func (l *Lab) podTarget(pod *corev1.Pod) (Target, error) {
	n, ok := l.node(pod.Spec.NodeName)
	if !ok {
		return Target{}, fmt.Errorf("pod %s/%s is not on a lab node (node %q)", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	resolv := filepath.Join(l.RunDir(), "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), "resolv.conf")
	if pod.Spec.HostNetwork {
		return Target{NetNS: n.NetNS, ResolvConf: resolv, Hostname: n.Name}, nil
	}
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil {
		return Target{}, fmt.Errorf("pod %s/%s has no IP yet", pod.Namespace, pod.Name)
	}
	return Target{NetNS: fmt.Sprintf("%sn%dp%d", l.prefix(), n.Index, ip.As4()[3]), ResolvConf: resolv, Hostname: pod.Name}, nil
}

// ExecError is a command that ran in the lab and failed.
type ExecError struct {
	Target   string
	Command  []string
	ExitCode int
	Output   string
	Inner    error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("exec in %s: %s: exit %d: %v: %s", e.Target, strings.Join(e.Command, " "), e.ExitCode, e.Inner, strings.TrimSpace(e.Output))
}

func (e *ExecError) Unwrap() error { return e.Inner }

// Exec runs cmd in target's network namespace (with the target's
// resolv.conf) and returns its combined output. A non-zero exit is an
// *ExecError carrying the output.
func (l *Lab) Exec(ctx context.Context, target string, cmd ...string) ([]byte, error) {
	var out bytes.Buffer
	err := l.ExecIO(ctx, target, cmd, nil, &out, &out)
	return out.Bytes(), err
}

// ExecIO is Exec with explicit standard streams (nil: /dev/null).
func (l *Lab) ExecIO(ctx context.Context, target string, cmd []string, stdin *os.File, stdout, stderr interface{ Write([]byte) (int, error) }) error {
	if len(cmd) == 0 {
		return errors.New("exec: no command")
	}
	t, err := l.Resolve(ctx, target)
	if err != nil {
		return err
	}
	args := []string{"daemon", "podinit", "--netns=/run/netns/" + t.NetNS, "--hostname=" + t.Hostname}
	if t.ResolvConf != "" {
		if _, err := os.Stat(t.ResolvConf); err == nil {
			args = append(args, "--bind="+t.ResolvConf+"=/etc/resolv.conf")
		}
	}
	args = append(args, "--")
	args = append(args, cmd...)
	c := exec.CommandContext(ctx, filepath.Join(l.binDir(), "ndlab"), args...)
	if stdin != nil {
		c.Stdin = stdin
	}
	c.Stdout, c.Stderr = stdout, stderr
	c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	if err := c.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		o := ""
		if b, ok := stdout.(*bytes.Buffer); ok {
			o = b.String()
		}
		return &ExecError{Target: target, Command: cmd, ExitCode: code, Output: o, Inner: err}
	}
	return nil
}
