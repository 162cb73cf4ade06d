package probe

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testNetns creates a network namespace with only a loopback interface (no
// routes anywhere else) and removes it when the test ends.
func testNetns(t *testing.T) string {
	t.Helper()
	if !isRoot() {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	name := fmt.Sprintf("ndprobe-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	return name
}

func TestInNetns(t *testing.T) {
	name := testNetns(t)
	p, err := NewInNetns(name, true)
	if err != nil {
		t.Fatal(err)
	}
	// A listener inside the namespace.
	var inside string
	if err := InNetns(NetnsPath(name), func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		inside = ln.Addr().String()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec Spec
		want Outcome
	}{
		{"listener in the namespace", fast(KindTCP, inside), OK},
		// The host's listener is not reachable: the probe's socket really
		// lives in the namespace.
		{"host listener is elsewhere", fast(KindTCP, listenTCP(t)), Refused},
		// No route at all in the namespace: the kernel says so at once and
		// nothing is sent anywhere.
		{"no route", fast(KindTCP, "192.0.2.1:80"), NoRoute},
		{"icmp loopback", fast(KindICMP, "127.0.0.1"), OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Run(ctx(t), tc.spec)
			if got.Outcomes[tc.want] != got.Attempts || got.Attempts == 0 {
				t.Errorf("outcomes = %v (%+v), want all %s", got.Outcomes, got.Observations, tc.want)
			}
		})
	}
}

func TestInNetnsMissing(t *testing.T) {
	_, err := NewInNetns("ndprobe-does-not-exist", false)
	if err == nil || !strings.Contains(err.Error(), "/run/netns/ndprobe-does-not-exist") {
		t.Errorf("got %v, want an error naming the namespace path", err)
	}
}

// TestUnprivilegedICMP uses a ping socket ("udp4"), which the kernel allows
// for groups in net.ipv4.ping_group_range: set per namespace, inside a test
// namespace only.
func TestUnprivilegedICMP(t *testing.T) {
	name := testNetns(t)
	if out, err := exec.Command("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647").CombinedOutput(); err != nil {
		t.Skipf("set ping_group_range in %s: %v: %s", name, err, out)
	}
	p, err := NewInNetns(name, false)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Run(ctx(t), fast(KindICMP, "127.0.0.1"))
	if got.Verdict != VerdictOK || got.Attempts != 3 {
		t.Errorf("got %s over %d (%s %+v), want ok over 3", got.Verdict, got.Attempts, got.Error, got.Observations)
	}
	// A path probe needs raw sockets: not run, with the reason.
	if got := p.Run(ctx(t), fast(KindPath, "127.0.0.1")); got.Verdict != VerdictNotRun {
		t.Errorf("unprivileged path: %s, want not-run", got.Verdict)
	}
}

// TestEphemeralPortFilter reproduces seed 004 inside a namespace of its
// own: the node's port range reaches below 32768 (32738-32797, small so
// that the kernel's sequential choice for one destination crosses the
// boundary within a few attempts) and a firewall lets TCP replies
// (SYN-ACKs) back in only to 32768-65535. TCP is intermittent, UDP to the
// same port works every time, and the failed connects are exactly the ones
// whose source port is below 32768.
func TestEphemeralPortFilter(t *testing.T) {
	name := ephemeralNetns(t)
	p, err := NewInNetns(name, false)
	if err != nil {
		t.Fatal(err)
	}
	target := "127.0.0.1:40007"
	if err := InNetns(NetnsPath(name), func() error {
		udpEchoOn(t, target)
		listenTCPOn(t, target)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tcp := Spec{Kind: KindTCP, Target: target, Count: 30, Interval: Duration(time.Millisecond), Timeout: Duration(300 * time.Millisecond)}
	udp := tcp
	udp.Kind = KindUDP
	rep, err := p.Do(ctx(t), Request{Probes: []Spec{tcp, udp}})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Comparisons; len(c) != 1 || !c[0].TCPOnly || c[0].TCP != VerdictIntermittent {
		t.Fatalf("comparison %+v, want TCP intermittent while UDP works", c)
	}
	for _, o := range rep.Series[0].Observations {
		_, ps, _ := net.SplitHostPort(o.Local)
		port, err := strconv.Atoi(ps)
		if err != nil {
			t.Fatalf("attempt %d: local %q has no port", o.Seq, o.Local)
		}
		if low := port < 32768; low != (o.Outcome == Timeout) {
			t.Errorf("attempt %d from port %d: %s, want a timeout exactly when the port is below 32768", o.Seq, port, o.Outcome)
		}
	}
}

// ephemeralNetns is a namespace whose local port range straddles 32768 and
// whose firewall drops SYN-ACKs to ports below 32768.
func ephemeralNetns(t testing.TB) string {
	t.Helper()
	name := testNetns(t.(*testing.T))
	for _, args := range [][]string{
		{"ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_local_port_range=32738 32797"},
		{"ip", "netns", "exec", name, "iptables", "-A", "INPUT", "-p", "tcp", "--tcp-flags", "SYN,ACK", "SYN,ACK", "!", "--dport", "32768:65535", "-j", "DROP"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Skipf("%v: %v: %s", args, err, out)
		}
	}
	return name
}

// listenTCPOn accepts and closes connections on addr.
func listenTCPOn(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
