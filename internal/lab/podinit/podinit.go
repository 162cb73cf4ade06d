// Package podinit starts a lab container process: already in a private mount
// and UTS namespace (the node agent starts it with CLONE_NEWNS|CLONE_NEWUTS),
// it bind-mounts the pod's files and volumes, sets the hostname, enters the
// pod's network namespace and execs the container's command.
package podinit

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Spec is what to start.
type Spec struct {
	// NetNS is the path of the network namespace to enter.
	NetNS string
	// Hostname is set in the new UTS namespace.
	Hostname string
	// Binds are "src=dst" bind mounts.
	Binds []string
	// Workdir is the working directory, if set.
	Workdir string
	// Argv is the command.
	Argv []string
}

// Exec sets up the namespaces and replaces the process with spec.Argv. It
// returns only on error.
func Exec(spec Spec) error {
	if len(spec.Argv) == 0 {
		return fmt.Errorf("podinit: no command")
	}
	runtime.LockOSThread()
	for _, b := range spec.Binds {
		src, dst, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("podinit: bad bind %q", b)
		}
		// A mount point missing inside an earlier bind (a volume mounted in
		// a volume) is created there, as the kubelet does.
		if _, err := os.Lstat(dst); os.IsNotExist(err) {
			if st, err := os.Stat(src); err == nil && st.IsDir() {
				_ = os.MkdirAll(dst, 0o755)
			} else if f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("podinit: bind %s on %s: %w", src, dst, err)
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("podinit: sethostname: %w", err)
		}
	}
	if spec.NetNS != "" {
		f, err := os.Open(spec.NetNS)
		if err != nil {
			return fmt.Errorf("podinit: open netns: %w", err)
		}
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("podinit: setns %s: %w", spec.NetNS, err)
		}
		f.Close()
	}
	if spec.Workdir != "" {
		if err := os.Chdir(spec.Workdir); err != nil {
			return fmt.Errorf("podinit: chdir: %w", err)
		}
	}
	bin := spec.Argv[0]
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			return fmt.Errorf("podinit: %w", err)
		}
		bin = p
	}
	if err := syscall.Exec(bin, spec.Argv, os.Environ()); err != nil {
		return fmt.Errorf("podinit: exec %s: %w", bin, err)
	}
	return nil
}
