package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/internal/lab/nodeagent"
	"github.com/netdoctor/netdoctor/internal/lab/nsnet"
)

// markerEnv is set in the environment of every lab process (and inherited by
// pod processes) so a sweep finds them even without a state file.
const markerEnv = "NDLAB_LAB_PROCESS"

// spawn starts argv in network namespace ns ("" for the machine's own),
// detached in its own session, output to <run>/logs/<name>.log.
func (l *Lab) spawn(name, ns string, argv []string) (Proc, error) {
	logDir := filepath.Join(l.state.Config.RunDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return Proc{}, fmt.Errorf("create log dir: %w", err)
	}
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Proc{}, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer f.Close()
	full := argv
	if ns != "" {
		full = append([]string{"nsenter", "--net=" + nsnet.Path(ns), "--"}, argv...)
	}
	path, err := exec.LookPath(full[0])
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", name, err)
	}
	env := []string{markerEnv + "=" + l.state.Config.RunDir}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, markerEnv+"=") && !strings.HasPrefix(e, "KUBECONFIG=") {
			env = append(env, e)
		}
	}
	cmd := &exec.Cmd{Path: path, Args: full, Env: env, Stdout: f, Stderr: f, Dir: l.state.Config.RunDir,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := cmd.Start(); err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", name, err)
	}
	// Reap it if it dies while this process lives (ndlab up exits soon; a
	// test binary may not).
	go func() { _ = cmd.Wait() }()
	p := Proc{Name: name, PID: cmd.Process.Pid, StartTime: procStart(cmd.Process.Pid), NetNS: ns, Log: logPath}
	l.state.Procs = append(l.state.Procs, p)
	return p, nil
}

// procStart reads a process's start time (field 22 of /proc/PID/stat).
func procStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// Alive reports whether the process still runs (not a zombie, same start).
func (p Proc) Alive() bool {
	st := procState(p.PID)
	return st != "" && st != "Z" && st != "X" && (p.StartTime == 0 || procStart(p.PID) == p.StartTime)
}

// prefixOf reads the namespace prefix of the lab in runDir.
func prefixOf(runDir string) string {
	if b, err := os.ReadFile(filepath.Join(runDir, "prefix")); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	if base := filepath.Base(runDir); runDir != DefaultRunDir() && strings.HasPrefix(base, "ndlab-") {
		return PrefixFor(strings.TrimPrefix(base, "ndlab-"))
	}
	return Prefix
}

// labPIDs lists processes that belong to the lab of runDir: those whose
// environment carries its marker, and those inside its network namespaces.
// It never returns the calling process.
func labPIDs(prefix, runDir string) []int {
	nsInodes := map[uint64]bool{}
	for _, ns := range labNamespaces(prefix) {
		if ino, err := nsnet.Inode(nsnet.Path(ns)); err == nil {
			nsInodes[ino] = true
		}
	}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		if ino, err := nsnet.Inode(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && nsInodes[ino] {
			pids = append(pids, pid)
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == markerEnv+"="+runDir {
				pids = append(pids, pid)
				break
			}
		}
	}
	sort.Ints(pids)
	return pids
}

// labNamespaces lists named network namespaces with the prefix.
func labNamespaces(prefix string) []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// killAll sends SIGTERM to pids, waits up to grace, then SIGKILLs the rest.
func killAll(pids []int, grace time.Duration) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		alive := 0
		for _, p := range pids {
			if st := procState(p); st != "" && st != "Z" {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// Leftovers describes what of a lab remains on the machine.
type Leftovers struct {
	// Namespaces are ndl- network namespaces.
	Namespaces []string
	// PIDs are processes marked as lab processes or inside lab namespaces.
	PIDs []int
	// RunDirExists reports whether the run directory is still there.
	RunDirExists bool
}

// Empty reports whether nothing is left.
func (x Leftovers) Empty() bool {
	return len(x.Namespaces) == 0 && len(x.PIDs) == 0 && !x.RunDirExists
}

func (x Leftovers) String() string {
	return fmt.Sprintf("namespaces=%v pids=%v runDir=%v", x.Namespaces, x.PIDs, x.RunDirExists)
}

// Inspect reports what of a lab exists on this machine.
func Inspect(runDir string) Leftovers {
	if runDir == "" {
		runDir = DefaultRunDir()
	}
	_, err := os.Stat(runDir)
	prefix := prefixOf(runDir)
	return Leftovers{Namespaces: labNamespaces(prefix), PIDs: labPIDs(prefix, runDir), RunDirExists: err == nil}
}

// Sweep removes everything a lab may have left on this machine: processes
// (by marker or namespace), ndl- namespaces, mount points the node agents
// created, and the run directory. It is what Down does, and works without a
// state file (after a crash).
func Sweep(ctx context.Context, runDir string) error {
	if runDir == "" {
		runDir = DefaultRunDir()
	}
	prefix := prefixOf(runDir)
	for round := 0; round < 3; round++ {
		pids := labPIDs(prefix, runDir)
		if len(pids) == 0 {
			break
		}
		// Nothing in the lab needs a graceful stop (CoreDNS would spend its
		// 5 s lameduck): SIGKILL after 2 s.
		killAll(pids, 2*time.Second)
	}
	var errs []string
	for _, ns := range labNamespaces(prefix) {
		if out, err := exec.CommandContext(ctx, "ip", "netns", "del", ns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("ip netns del %s: %v: %s", ns, err, strings.TrimSpace(string(out))))
		}
	}
	// Bind-mount targets are shared by labs: leave them while another runs.
	other := false
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "ndl") && !strings.HasPrefix(e.Name(), prefix) {
			other = true
		}
	}
	if !other {
		removeMountpoints(nodeagent.MountpointsFile)
		_ = os.Remove(nodeagent.MountpointsFile)
		removeMountpoints(filepath.Join(runDir, "mountpoints")) // labs of earlier versions

	}
	if err := os.RemoveAll(runDir); err != nil {
		errs = append(errs, fmt.Sprintf("remove %s: %v", runDir, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("sweep: %s", strings.Join(errs, "; "))
	}
	if left := labPIDs(prefix, runDir); len(left) > 0 {
		return fmt.Errorf("sweep: processes still running: %v", left)
	}
	return nil
}

// removeMountpoints removes the empty directories and files the node agents
// created on the host as bind-mount targets, deepest first.
func removeMountpoints(list string) {
	b, err := os.ReadFile(list)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	var paths []string
	for _, p := range strings.Split(string(b), "\n") {
		p = strings.TrimSpace(p)
		if p == "" || p == "/" || seen[p] || !filepath.IsAbs(p) {
			continue
		}
		seen[p] = true
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			_ = syscall.Rmdir(p) // only if empty
		} else if st.Size() == 0 {
			_ = os.Remove(p)
		}
	}
}
