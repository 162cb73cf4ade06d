package trace

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/netdoctor/netdoctor/internal/iptables"
)

// FuzzTrace traces packets through arbitrary dumps: no panic, probabilities
// that add up to at most 1, and a DNAT verdict always with destinations.
func FuzzTrace(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte{10, 0, 0, 2}, []byte{172, 30, 0, 44}, uint16(80), false)
		f.Add(data, []byte{203, 0, 113, 2}, []byte{192, 168, 0, 2}, uint16(3001), false)
	}
	f.Add([]byte("*nat\n:PREROUTING ACCEPT\n:A -\n-A PREROUTING -j A\n-A A -m statistic --mode random --probability 0.3 -j A\n-A A -g PREROUTING\nCOMMIT\n"),
		[]byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}, uint16(1), true)
	f.Fuzz(func(t *testing.T, dump, src, dst []byte, port uint16, local bool) {
		d, err := iptables.Parse("fuzz", dump)
		if err != nil {
			return
		}
		s, ok1 := netip.AddrFromSlice(src)
		ds, ok2 := netip.AddrFromSlice(dst)
		if !ok1 || !ok2 {
			return
		}
		tr, err := New(d, []netip.Addr{netip.MustParseAddr("192.168.0.2")})
		if err != nil {
			t.Fatal(err)
		}
		for _, proto := range []string{"tcp", "udp"} {
			res := tr.Trace(Packet{Src: s, Dst: ds, Proto: proto, DstPort: int(port), Local: local})
			sum := 0.0
			for _, d := range res.Destinations {
				sum += d.Probability
			}
			if sum > 1.000001 {
				t.Fatalf("probabilities add up to %v", sum)
			}
			if res.Verdict == DNAT && len(res.Destinations) == 0 {
				t.Fatalf("DNAT without destinations")
			}
		}
	})
}
