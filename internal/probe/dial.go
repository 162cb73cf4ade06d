package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// LocalDialer is a Dialer that also reports the local address a TCP
// connect used when the connect fails: the source port of a connection
// whose SYN-ACK never came back is the evidence of an ephemeral-port filter.
type LocalDialer interface {
	Dialer
	// DialTCPLocal connects to address (an IP and port) and returns the
	// connection and the local address, which is set even on failure once
	// the kernel has picked the port.
	DialTCPLocal(ctx context.Context, address string) (net.Conn, string, error)
}

// sysDialer is the default Dialer: net.Dialer, plus a TCP connect that
// reads the local port the kernel picked before the handshake completes.
type sysDialer struct{ net.Dialer }

// DialTCPLocal implements LocalDialer.
func (d *sysDialer) DialTCPLocal(ctx context.Context, address string) (net.Conn, string, error) {
	return dialTCPLocal(ctx, address)
}

// pollSlice bounds one poll(2) so a cancelled context is noticed quickly.
const pollSlice = 100 * time.Millisecond

// dialTCPLocal does a non-blocking connect(2) itself, so that it can read
// the local address with getsockname(2) while the SYN is in flight: the
// kernel picks the source port in connect exactly as for any other
// connection (net.ipv4.ip_local_port_range). It then waits for the result
// until ctx is done and hands the socket to the net package.
func dialTCPLocal(ctx context.Context, address string) (net.Conn, string, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, "", fmt.Errorf("dial tcp %s: want IP:port: %w", address, err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if ap.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, "", opErr("socket", address, "", err)
	}
	keep := false
	defer func() {
		if !keep {
			unix.Close(fd)
		}
	}()
	err = unix.Connect(fd, sa)
	local := localAddr(fd)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return nil, local, opErr("connect", address, local, err)
	}
	for err != nil {
		wait := pollSlice
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if ctx.Err() != nil || wait <= 0 {
			return nil, local, opErr("connect", address, local, os.ErrDeadlineExceeded)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, perr := unix.Poll(fds, int(wait.Milliseconds())+1)
		if perr != nil && !errors.Is(perr, unix.EINTR) {
			return nil, local, opErr("poll", address, local, perr)
		}
		if n > 0 {
			break
		}
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return nil, local, opErr("getsockopt", address, local, err)
	}
	if soerr != 0 {
		return nil, local, opErr("connect", address, local, unix.Errno(soerr))
	}
	f := os.NewFile(uintptr(fd), "tcp:"+address)
	keep = true // f owns fd now
	c, err := net.FileConn(f)
	f.Close() // FileConn duplicated it
	if err != nil {
		return nil, local, fmt.Errorf("dial tcp %s: %w", address, err)
	}
	return c, local, nil
}

// localAddr is the socket's local address as ip:port, or "" before the
// kernel has bound it.
func localAddr(fd int) string {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return ""
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		if a.Port == 0 {
			return ""
		}
		return net.JoinHostPort(netip.AddrFrom4(a.Addr).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		if a.Port == 0 {
			return ""
		}
		return net.JoinHostPort(netip.AddrFrom16(a.Addr).String(), strconv.Itoa(a.Port))
	}
	return ""
}

// opErr wraps a syscall error the way the net package does, so Classify
// reads it the same.
func opErr(op, remote, local string, err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = os.NewSyscallError(op, errno)
	}
	oe := &net.OpError{Op: "dial", Net: "tcp", Err: err}
	if ap, perr := netip.ParseAddrPort(remote); perr == nil {
		oe.Addr = net.TCPAddrFromAddrPort(ap)
	}
	if ap, perr := netip.ParseAddrPort(local); perr == nil {
		oe.Source = net.TCPAddrFromAddrPort(ap)
	}
	return oe
}
