package trace

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/iptables/iptablestest"
)

var (
	benchOnce   sync.Once
	benchTracer *Tracer
	benchErr    error
)

// tracer20k is a tracer over 20,000 NodePort Services x 5 endpoints in
// kube-proxy's rule shapes.
func tracer20k(b *testing.B) *Tracer {
	benchOnce.Do(func() {
		d, err := iptables.Parse("bench", iptablestest.KubeProxyDump(20000, 5))
		if err != nil {
			benchErr = err
			return
		}
		benchTracer, benchErr = New(d, []netip.Addr{netip.MustParseAddr("192.168.0.2")})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchTracer
}

// BenchmarkTrace traces a packet to the last Service's ClusterIP (the
// worst case: every KUBE-SERVICES rule is evaluated) after parsing.
func BenchmarkTrace(b *testing.B) {
	tr := tracer20k(b)
	i := 19999
	p := Packet{Src: netip.MustParseAddr("10.9.0.1"), Dst: netip.AddrFrom4([4]byte{172, 30, byte(i / 256 % 256), byte(i % 256)}), Proto: "tcp", DstPort: 80}
	tr.Trace(p) // compiles the chains it visits
	b.ReportAllocs()
	for b.Loop() {
		res := tr.Trace(p)
		if res.Verdict != DNAT || len(res.Destinations) != 5 {
			b.Fatalf("got %s with %d destinations", res.Verdict, len(res.Destinations))
		}
	}
}

// BenchmarkTraceNodePort traces an external client to a NodePort: the
// packet walks all of KUBE-SERVICES, then KUBE-NODEPORTS.
func BenchmarkTraceNodePort(b *testing.B) {
	tr := tracer20k(b)
	p := Packet{Src: netip.MustParseAddr("203.0.113.9"), Dst: netip.MustParseAddr("192.168.0.2"), Proto: "tcp", DstPort: 30000 + 2767}
	tr.Trace(p) // compiles the chains it visits
	b.ReportAllocs()
	for b.Loop() {
		res := tr.Trace(p)
		if res.Verdict != DNAT || !res.Masquerade {
			b.Fatalf("got %s masquerade %v", res.Verdict, res.Masquerade)
		}
	}
}

// BenchmarkFirstTrace is New plus the first trace on a parsed 20k-Service
// dump: it compiles the chains the packet visits (all of KUBE-SERVICES).
func BenchmarkFirstTrace(b *testing.B) {
	d, err := iptables.Parse("bench", iptablestest.KubeProxyDump(20000, 5))
	if err != nil {
		b.Fatal(err)
	}
	p := Packet{Src: netip.MustParseAddr("10.9.0.1"), Dst: netip.MustParseAddr("172.30.78.31"), Proto: "tcp", DstPort: 80}
	b.ReportAllocs()
	for b.Loop() {
		tr, err := New(d, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res := tr.Trace(p); res.Verdict != DNAT {
			b.Fatalf("got %s", res.Verdict)
		}
	}
}
