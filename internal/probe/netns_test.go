package probe

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
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
