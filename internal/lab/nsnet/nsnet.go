// Package nsnet opens sockets inside another network namespace from a Go
// process: a socket belongs to the namespace of the thread that created it, so
// Do locks the goroutine to its OS thread, switches that thread into the target
// namespace, runs a function that creates sockets, and switches back.
package nsnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Path returns the bind-mount path of a named network namespace, as `ip netns`
// creates it.
func Path(name string) string { return "/run/netns/" + name }

// Do runs fn with the calling OS thread inside the network namespace at
// nsPath. Sockets fn creates stay in that namespace after Do returns. When the
// thread cannot be switched back, it is left locked so the Go runtime retires it.
func Do(nsPath string, fn func() error) error {
	target, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own netns: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", nsPath, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Keep the thread locked: it exits with the goroutine and never runs other code.
		return fmt.Errorf("setns back from %s: %w", nsPath, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Dialer dials from inside a network namespace.
type Dialer struct {
	// NSPath is the namespace to dial from; empty dials from the current one.
	NSPath string
	// Dialer holds timeouts and the local address; its zero value is fine.
	Dialer net.Dialer
}

// DialContext connects to address on the named network from inside d.NSPath.
// The calling goroutine keeps its thread until the connect completes, so bound
// the wait with ctx or d.Dialer.Timeout.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.NSPath == "" {
		return d.Dialer.DialContext(ctx, network, address)
	}
	var conn net.Conn
	err := Do(d.NSPath, func() error {
		var err error
		conn, err = d.Dialer.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// Listen opens a stream listener inside the namespace at nsPath.
func Listen(nsPath, network, address string) (net.Listener, error) {
	var l net.Listener
	err := Do(nsPath, func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket opens a packet listener inside the namespace at nsPath.
func ListenPacket(nsPath, network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := Do(nsPath, func() error {
		var err error
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Inode returns the namespace inode of a namespace file (e.g. /proc/PID/ns/net
// or /run/netns/NAME), to tell which namespace a process is in.
func Inode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}
