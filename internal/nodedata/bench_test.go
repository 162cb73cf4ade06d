package nodedata

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkSummariseConnections summarises a full default-size table
// (262144 entries, nf_conntrack_max on most nodes) built from the real
// /proc/net/nf_conntrack lines of testdata, with varied ports and
// destinations.
func BenchmarkSummariseConnections(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "proc-nf_conntrack-snat.txt"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var buf bytes.Buffer
	for i := 0; i < 262144; i++ {
		l := lines[i%len(lines)]
		l = strings.Replace(l, "dst=20.50.2.", fmt.Sprintf("dst=20.%d.%d.", 50+i%7, i%251), 1)
		l = strings.Replace(l, "sport=", fmt.Sprintf("sport=%d", 1024+i%60000), 1)
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := SummariseConnections("bench", bytes.NewReader(data))
		if err != nil || sum.Entries != 262144 {
			b.Fatalf("entries %d, %v", sum.Entries, err)
		}
	}
}
