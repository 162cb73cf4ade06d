package iptables_test

import (
	"bytes"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/iptables/iptablestest"
)

// The benchmark dump: 20,000 NodePort Services with 5 endpoints each, in
// kube-proxy's rule shapes.
var (
	benchOnce sync.Once
	benchDump []byte
)

func dump20k(b testing.TB) []byte {
	benchOnce.Do(func() { benchDump = iptablestest.KubeProxyDump(20000, 5) })
	return benchDump
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestGeneratedDumpParses(t *testing.T) {
	data := iptablestest.KubeProxyDump(200, 5)
	d, err := iptables.Parse("gen", data)
	if err != nil {
		t.Fatal(err)
	}
	// per Service: KUBE-SERVICES 1, KUBE-NODEPORTS 1, KUBE-EXT 2,
	// KUBE-SVC 1+5, KUBE-SEP 2x5 = 20; plus 15 filter and 8 fixed nat rules.
	if got, want := d.Rules(), 200*20+15+8; got != want {
		t.Errorf("rules: got %d, want %d", got, want)
	}
	if len(d.Unknown) != 0 {
		t.Errorf("unknown: %v", d.Unknown)
	}
}

// BenchmarkParse parses the 20k-Service dump; MB/s is the parse speed.
// peak-x is the live heap after parsing, over the file size.
func BenchmarkParse(b *testing.B) {
	data := dump20k(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var d *iptables.Dump
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		var err error
		d, err = iptables.Parse("bench", data)
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StopTimer()
	// The speed in CPU time (user+system of the process, GC included):
	// the wall-clock MB/s suffers when other work shares the machine.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(len(data))*float64(n)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
	b.ReportMetric(float64(d.Rules()), "rules")
	b.ReportMetric(float64(bytes.Count(data, []byte("\n"))), "lines")
	b.ReportMetric(float64(len(data))/1e6, "file-MB")
	var before, after runtime.MemStats
	d = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, _ = iptables.Parse("bench", data)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(d)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(data)), "heap-x")
}

// BenchmarkCountLines is `wc -l` on the same dump, for scale.
func BenchmarkCountLines(b *testing.B) {
	data := dump20k(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if bytes.Count(data, []byte("\n")) == 0 {
			b.Fatal("no lines")
		}
	}
}
