package probe

import (
	"context"
	"testing"
	"time"
)

// BenchmarkTCPSeries measures one series of 10 TCP connects to a loopback
// listener: the prober's own overhead per attempt.
func BenchmarkTCPSeries(b *testing.B) {
	addr := listenTCP(b)
	p := New(false)
	s := Spec{Kind: KindTCP, Target: addr, Count: 10, Interval: Duration(time.Nanosecond), Timeout: Duration(time.Second)}
	b.ReportAllocs()
	for b.Loop() {
		if got := p.Run(context.Background(), s); got.Verdict != VerdictOK {
			b.Fatalf("verdict %s", got.Verdict)
		}
	}
}

// BenchmarkHTTPSeries measures one series of 10 HTTP GETs on fresh
// connections to a loopback server, phases traced.
func BenchmarkHTTPSeries(b *testing.B) {
	srv := httpServer(b)
	p := New(false)
	s := Spec{Kind: KindHTTP, Target: srv.URL + "/ok", Count: 10, Interval: Duration(time.Nanosecond), Timeout: Duration(time.Second)}
	b.ReportAllocs()
	for b.Loop() {
		if got := p.Run(context.Background(), s); got.Verdict != VerdictOK {
			b.Fatalf("verdict %s", got.Verdict)
		}
	}
}
