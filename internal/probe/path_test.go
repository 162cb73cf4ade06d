package probe

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// routedNetns builds client -- router -- server out of three network
// namespaces joined by veth pairs (addresses exist only inside them) and
// returns the client's namespace name. Nothing touches the host namespace
// beyond creating the namespaces.
func routedNetns(t *testing.T) (client string) {
	t.Helper()
	if !isRoot() {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	id := os.Getpid() % 100000
	c, r, s := fmt.Sprintf("ndprobe-c%d", id), fmt.Sprintf("ndprobe-r%d", id), fmt.Sprintf("ndprobe-s%d", id)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{c, r, s} {
		run("netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	// Create each veth pair inside a lab namespace, never in the host's.
	run("-n", c, "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", r)
	run("-n", r, "link", "add", "r1", "type", "veth", "peer", "name", "s0", "netns", s)
	run("-n", c, "addr", "add", "10.250.1.2/24", "dev", "c0")
	run("-n", r, "addr", "add", "10.250.1.1/24", "dev", "r0")
	run("-n", r, "addr", "add", "10.250.2.1/24", "dev", "r1")
	run("-n", s, "addr", "add", "10.250.2.2/24", "dev", "s0")
	run("-n", c, "link", "set", "c0", "up")
	run("-n", r, "link", "set", "r0", "up")
	run("-n", r, "link", "set", "r1", "up")
	run("-n", s, "link", "set", "s0", "up")
	run("-n", c, "route", "add", "default", "via", "10.250.1.1")
	run("-n", s, "route", "add", "default", "via", "10.250.2.1")
	if out, err := exec.Command("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in %s: %v: %s", r, err, out)
	}
	return c
}

func TestPathThroughRouter(t *testing.T) {
	client := routedNetns(t)
	p, err := NewInNetns(client, true)
	if err != nil {
		t.Fatal(err)
	}
	s := fast(KindPath, "10.250.2.2")
	s.Count = 3
	got := p.Run(ctx(t), s)
	if got.Path == nil || !got.Path.Reached {
		t.Fatalf("path = %+v (%s), want reached", got.Path, got.Error)
	}
	var hosts []string
	for _, h := range got.Path.Hops {
		hosts = append(hosts, fmt.Sprintf("%d:%s:%d/%d", h.TTL, h.Host, h.Recv, h.Sent))
	}
	if want := "1:10.250.1.1:3/3 2:10.250.2.2:3/3"; strings.Join(hosts, " ") != want {
		t.Errorf("hops = %s, want %s", strings.Join(hosts, " "), want)
	}
	if got.Verdict != VerdictOK || got.Attempts != 3 {
		t.Errorf("verdict = %s over %d cycles, want ok over 3", got.Verdict, got.Attempts)
	}

	// Beyond the server nothing answers: the path stops one hop after the
	// last answer, with 100% loss there, and the verdict is persistent.
	s = fast(KindPath, "10.250.3.9")
	s.Count = 2
	s.MaxHops = 5
	got = p.Run(ctx(t), s)
	if got.Path == nil || got.Path.Reached {
		t.Fatalf("path = %+v, want not reached", got.Path)
	}
	last := got.Path.Hops[len(got.Path.Hops)-1]
	if got.Path.Hops[0].Host != "10.250.1.1" || last.LossPct != 100 {
		t.Errorf("hops = %+v, want the router first and a silent last hop", got.Path.Hops)
	}
	if got.Verdict != VerdictPersistent {
		t.Errorf("verdict = %s, want persistent", got.Verdict)
	}
}

func TestICMPUnreachableFromRouter(t *testing.T) {
	client := routedNetns(t)
	p, err := NewInNetns(client, true)
	if err != nil {
		t.Fatal(err)
	}
	// The router has no route to 10.250.3.0/24 and answers "network
	// unreachable", rate limited per source (a short burst, then one a
	// second), so the two probes below are kept small and apart.
	// TCP: the kernel fails the connect with ENETUNREACH at once.
	tcp := fast(KindTCP, "10.250.3.9:80")
	tcp.Count = 2
	got := p.Run(ctx(t), tcp)
	if got.Dominant != NoRoute || got.Verdict != VerdictPersistent {
		t.Errorf("tcp: got %s %s (%+v), want persistent no-route", got.Verdict, got.Dominant, got.Observations)
	}
	time.Sleep(2500 * time.Millisecond) // let the router's ICMP budget refill
	icmp := fast(KindICMP, "10.250.3.9")
	icmp.Count = 2
	got = p.Run(ctx(t), icmp)
	if got.Dominant != NoRoute || got.Verdict != VerdictPersistent {
		t.Fatalf("got %s %s (%+v), want persistent no-route", got.Verdict, got.Dominant, got.Observations)
	}
	if d := got.Observations[0].Detail; !strings.Contains(d, "10.250.1.1") {
		t.Errorf("detail %q does not name the router that answered", d)
	}
}
