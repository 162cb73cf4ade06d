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
