package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/net/icmp"
	"golang.org/x/sys/unix"
)

// NetnsPath turns a network namespace name as `ip netns` knows it into its
// path (/run/netns/NAME); a path is returned unchanged.
func NetnsPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return filepath.Join("/run/netns", name)
}

// InNetns runs f on a fresh OS thread that has entered the network
// namespace at path. Sockets f creates belong to that namespace for their
// whole life, whichever thread later uses them. The thread is never
// returned to the scheduler: it exits with the goroutine, so no other code
// can ever run in the namespace by accident. If entering fails, f does not
// run.
func InNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread is discarded when this goroutine ends.
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// nsDialer dials from inside a network namespace.
type nsDialer struct {
	path string
	d    net.Dialer
	// nameserver, when set, replaces the address the resolver asks for.
	nameserver string
}

// DialContext implements Dialer. Only IP addresses are dialled, so no name
// resolution happens on a thread outside the namespace.
func (n *nsDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", address, n.path, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("dial %s in %s: want an IP address, not a name", address, n.path)
	}
	var c net.Conn
	err = InNetns(n.path, func() error {
		var err error
		c, err = n.d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// DialTCPLocal implements LocalDialer inside the namespace.
func (n *nsDialer) DialTCPLocal(ctx context.Context, address string) (net.Conn, string, error) {
	var (
		c     net.Conn
		local string
	)
	err := InNetns(n.path, func() error {
		var err error
		c, local, err = dialTCPLocal(ctx, address)
		return err
	})
	return c, local, err
}

// NewInNetns returns a Prober whose every socket (TCP, UDP, ICMP, and the
// resolver's DNS queries) is created inside the named network namespace (a
// name under /run/netns or a path such as /proc/PID/ns/net). Names resolve
// through the namespace's own resolv.conf (/etc/netns/NAME/resolv.conf, as
// `ip netns exec` uses) when it has one.
func NewInNetns(name string, privileged bool) (*Prober, error) {
	path := NetnsPath(name)
	// Check we can enter it before any probe runs.
	if err := InNetns(path, func() error { return nil }); err != nil {
		return nil, err
	}
	d := &nsDialer{path: path}
	if ns := nameserverOf(filepath.Join("/etc/netns", filepath.Base(path), "resolv.conf")); ns != "" {
		d.nameserver = net.JoinHostPort(ns, "53")
	}
	p := New(privileged)
	p.Dialer = d
	p.Resolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if d.nameserver != "" {
				address = d.nameserver
			}
			return d.DialContext(ctx, network, address)
		},
	}
	p.ListenICMP = func(network, address string) (*icmp.PacketConn, error) {
		var c *icmp.PacketConn
		err := InNetns(path, func() error {
			var err error
			c, err = icmp.ListenPacket(network, address)
			return err
		})
		return c, err
	}
	return p, nil
}

// nameserverOf returns the first nameserver of a resolv.conf, or "".
func nameserverOf(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" && net.ParseIP(fields[1]) != nil {
			return fields[1]
		}
	}
	return ""
}
