package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Runner runs a command on this machine and returns its combined output.
// Tests can swap it; the lab uses ExecRunner.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct{}

// Run runs name with args; a failure is a *RunError.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, &RunError{Command: append([]string{name}, args...), Output: string(out), Inner: err}
	}
	return out, nil
}

// RunError is a command that failed, with its output.
type RunError struct {
	Command []string
	Output  string
	Inner   error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("run %s: %v: %s", strings.Join(e.Command, " "), e.Inner, strings.TrimSpace(e.Output))
}

func (e *RunError) Unwrap() error { return e.Inner }

// ExitCode is the command's exit status, or -1 when it did not run.
func (e *RunError) ExitCode() int {
	if ee, ok := e.Inner.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// in runs a command inside the named network namespace (only the network
// namespace is entered, unlike `ip netns exec`).
func (l *Lab) in(ctx context.Context, ns string, args ...string) ([]byte, error) {
	return l.run.Run(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...)
}

// ip runs ip(8) in the machine's namespace; only used with -n or netns verbs.
func (l *Lab) ip(ctx context.Context, args ...string) error {
	_, err := l.run.Run(ctx, "ip", args...)
	return err
}

// steps runs commands in order and stops at the first failure.
func (l *Lab) steps(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if _, err := l.run.Run(ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func sysctl(ns string, kv ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + ns, "--", "sysctl", "-qw"}, kv...)
}

func ipt(ns string, args ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + ns, "--", "iptables", "-w"}, args...)
}
