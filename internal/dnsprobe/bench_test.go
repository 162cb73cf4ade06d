package dnsprobe

import (
	"context"
	"os"
	"runtime"
	"testing"
)

// BenchmarkProbe measures the engine's query rate against a real server:
// the loopback test server, or the server at $NETDOCTOR_BENCH_DNS (ip:port,
// e.g. the lab's CoreDNS, from inside the lab) when set. Every query's
// latency is recorded. It reports queries/s and the heap in use after the
// run, which stays flat as b.N grows.
func BenchmarkProbe(b *testing.B) { benchmarkProbe(b, false) }

// BenchmarkProbeReuseSocket is BenchmarkProbe with one socket per worker.
func BenchmarkProbeReuseSocket(b *testing.B) { benchmarkProbe(b, true) }

func benchmarkProbe(b *testing.B, reuse bool) {
	addr := os.Getenv("NETDOCTOR_BENCH_DNS")
	if addr == "" {
		addr = server(b, behaviour{})
	}
	name := os.Getenv("NETDOCTOR_BENCH_NAME")
	if name == "" {
		name = clusterName
	}
	spec := Spec{ResolvConf: "-", Hops: []Hop{{Name: HopKubeDNS, Addr: addr}}, Names: []Name{{Name: name, Kind: KindCluster}},
		Types: []string{"A"}, Transports: []string{"udp"}, Count: b.N, RatePerHop: -1, Concurrency: 64, TimeoutMS: 2000, MaxDurationMS: 600_000, ReuseSocket: reuse}
	b.ResetTimer()
	res, err := (&Prober{}).Run(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	tot := res.Hops[0].Totals("")
	if tot.Sent != b.N {
		b.Fatalf("sent %d, want %d", tot.Sent, b.N)
	}
	b.ReportMetric(float64(tot.Sent)/(res.DurationMS/1000), "queries/s")
	b.ReportMetric(float64(tot.OK)/float64(tot.Sent)*100, "%ok")
	b.ReportMetric(tot.Latency.P99MS, "p99-ms")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/1e6, "heap-MB")
}
