package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

var (
	sharedOnce sync.Once
	sharedLab  *Lab
	sharedErr  error
)

// Shared returns the lab that is up on this machine (from the state file in
// the default run directory, e.g. one `ndlab up` started), loading it once
// per process. It does not start a lab: see Up.
func Shared() (*Lab, error) {
	sharedOnce.Do(func() {
		sharedLab, sharedErr = Load("")
		if sharedErr == nil && !sharedLab.state.Ready {
			sharedErr = fmt.Errorf("the lab in %s is not ready (still starting, or up failed)", sharedLab.RunDir())
		}
	})
	return sharedLab, sharedErr
}

// IsUp reports whether a lab state file exists in runDir ("" for default).
func IsUp(runDir string) bool {
	if runDir == "" {
		runDir = DefaultRunDir()
	}
	_, err := os.Stat(statePath(runDir))
	return err == nil
}

// Status summarises the lab's processes and cluster.
type Status struct {
	// Procs are the processes the lab started, with whether each is alive.
	Procs []ProcStatus `json:"procs"`
	// Nodes maps node name to its Ready condition status.
	Nodes map[string]string `json:"nodes"`
	// KubeDNSEndpoints are the ready CoreDNS addresses.
	KubeDNSEndpoints []string `json:"kubeDNSEndpoints"`
	// Faults are the active faults.
	Faults []FaultState `json:"faults"`
}

// ProcStatus is one process's liveness.
type ProcStatus struct {
	Proc
	Alive bool `json:"alive"`
}

// Status reports what runs.
func (l *Lab) Status(ctx context.Context) (Status, error) {
	st := Status{Nodes: map[string]string{}}
	for _, p := range l.state.Procs {
		st.Procs = append(st.Procs, ProcStatus{Proc: p, Alive: p.Alive()})
	}
	for _, f := range l.state.Faults {
		st.Faults = append(st.Faults, f)
	}
	nodes, err := l.client.CoreV1().Nodes().List(ctx, listAll)
	if err != nil {
		return st, fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes.Items {
		st.Nodes[n.Name] = "Unknown"
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" {
				st.Nodes[n.Name] = string(c.Status)
			}
		}
	}
	st.KubeDNSEndpoints, err = l.KubeDNSEndpoints(ctx)
	return st, err
}

// Use records this process as a user of the lab (a file <run>/users/<pid>),
// so a process that started the lab can wait for others before taking it
// down. Call the returned function when done.
func (l *Lab) Use() func() {
	dir := filepath.Join(l.RunDir(), "users")
	_ = os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, strconv.Itoa(os.Getpid()))
	_ = os.WriteFile(p, nil, 0o644)
	return func() { _ = os.Remove(p) }
}

// OtherUsers lists live processes, other than this one, that called Use.
func (l *Lab) OtherUsers() []int {
	entries, _ := os.ReadDir(filepath.Join(l.RunDir(), "users"))
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if st := procState(pid); st != "" && st != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// AliveProcs lists the lab's recorded processes that still run.
func (l *Lab) AliveProcs() []Proc {
	var out []Proc
	for _, p := range l.state.Procs {
		if p.Alive() {
			out = append(out, p)
		}
	}
	return out
}

// DeadProcs lists the lab's recorded processes that no longer run.
func (l *Lab) DeadProcs() []Proc {
	var out []Proc
	for _, p := range l.state.Procs {
		if !p.Alive() {
			out = append(out, p)
		}
	}
	return out
}
