package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// flock takes an exclusive lock on <run dir>/name, waiting until ctx ends.
// Separate opens conflict, so it serialises goroutines and processes alike.
func flock(ctx context.Context, runDir, name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(runDir, name), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", name, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LockFaults takes the lab-wide fault lock, shared by every process using
// this lab (tests in several `go test` runs, ndlab fault). A test that
// injects faults holds it from its first fault until it ends, so two tests
// never see each other's faults. Call the returned function to release.
func (l *Lab) LockFaults(ctx context.Context) (func(), error) {
	return flock(ctx, l.RunDir(), "faults.lock")
}
