package nodedata

import (
	"bufio"
	"bytes"
	"regexp"
)

// MaxDmesgLines bounds the kernel messages kept.
const MaxDmesgLines = 200

// kernelDropRE selects kernel messages about conntrack or dropped packets,
// e.g. "nf_conntrack: nf_conntrack: table full, dropping packet".
var kernelDropRE = regexp.MustCompile(`(?i)conntrack|dropping packet|\bdrop(ped|s)?\b|martian|neighbour table overflow|neighbor table overflow`)

// FilterKernelMessages keeps the kernel log lines about conntrack or drops,
// the newest MaxDmesgLines of them, oldest first.
func FilterKernelMessages(log []byte) []byte {
	var keep [][]byte
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if kernelDropRE.Match(sc.Bytes()) {
			keep = append(keep, append([]byte(nil), sc.Bytes()...))
		}
	}
	if len(keep) > MaxDmesgLines {
		keep = keep[len(keep)-MaxDmesgLines:]
	}
	var out bytes.Buffer
	for _, l := range keep {
		out.Write(l)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// TableFullLines counts "table full, dropping packet" messages.
func TableFullLines(dmesg []byte) int {
	return bytes.Count(dmesg, []byte("table full, dropping packet"))
}
