package nodedata

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ConntrackCPU is one CPU's line of `conntrack -S` (or of
// /proc/net/stat/nf_conntrack). Counters absent from the source are 0.
type ConntrackCPU struct {
	CPU           int    `json:"cpu"`
	Found         uint64 `json:"found"`
	Invalid       uint64 `json:"invalid"`
	Ignore        uint64 `json:"ignore"`
	Insert        uint64 `json:"insert"`
	InsertFailed  uint64 `json:"insertFailed"`
	Drop          uint64 `json:"drop"`
	EarlyDrop     uint64 `json:"earlyDrop"`
	Error         uint64 `json:"error"`
	SearchRestart uint64 `json:"searchRestart"`
	Clash         uint64 `json:"clashResolve"`
}

// ConntrackStats are the per-CPU conntrack counters and their sums.
type ConntrackStats struct {
	PerCPU []ConntrackCPU `json:"perCPU"`
	// Entries is the table's entry count when the source has it
	// (/proc/net/stat/nf_conntrack); -1 otherwise.
	Entries int64 `json:"entries"`
}

// Total sums the counters over every CPU.
func (s ConntrackStats) Total() ConntrackCPU {
	t := ConntrackCPU{CPU: -1}
	for _, c := range s.PerCPU {
		t.Found += c.Found
		t.Invalid += c.Invalid
		t.Ignore += c.Ignore
		t.Insert += c.Insert
		t.InsertFailed += c.InsertFailed
		t.Drop += c.Drop
		t.EarlyDrop += c.EarlyDrop
		t.Error += c.Error
		t.SearchRestart += c.SearchRestart
		t.Clash += c.Clash
	}
	return t
}

// ParseConntrackS parses `conntrack -S` output, lines like
//
//	cpu=0   	found=0 invalid=516 ignore=82082383 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=20749
//
// Unknown keys (newer conntrack-tools add some, e.g. clash_resolve,
// chaintoolong) are ignored. file names the source in errors.
func ParseConntrackS(file string, data []byte) (ConntrackStats, error) {
	st := ConntrackStats{Entries: -1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "cpu=") {
			return st, fmt.Errorf("%s:%d: want a line starting with cpu=, got %q", file, lineNo, clip(line))
		}
		var c ConntrackCPU
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return st, fmt.Errorf("%s:%d: field %q is not key=value", file, lineNo, f)
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return st, fmt.Errorf("%s:%d: field %s: %w", file, lineNo, k, err)
			}
			c.set(k, n)
		}
		st.PerCPU = append(st.PerCPU, c)
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("%s: %w", file, err)
	}
	if len(st.PerCPU) == 0 {
		return st, fmt.Errorf("%s: no cpu= lines", file)
	}
	return st, nil
}

func (c *ConntrackCPU) set(k string, n uint64) {
	switch k {
	case "cpu":
		c.CPU = int(n)
	case "found":
		c.Found = n
	case "invalid":
		c.Invalid = n
	case "ignore":
		c.Ignore = n
	case "insert":
		c.Insert = n
	case "insert_failed":
		c.InsertFailed = n
	case "drop":
		c.Drop = n
	case "early_drop":
		c.EarlyDrop = n
	case "error", "icmp_error":
		c.Error = n
	case "search_restart":
		c.SearchRestart = n
	case "clash_resolve", "clashres":
		c.Clash = n
	}
}

// ParseProcConntrackStat parses /proc/net/stat/nf_conntrack: a header line
// of names, then one line of hexadecimal counters per CPU. The "entries"
// column is the same on every line (the table size), so it is taken once.
func ParseProcConntrackStat(file string, data []byte) (ConntrackStats, error) {
	st := ConntrackStats{Entries: -1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var header []string
	lineNo := 0
	for sc.Scan() {
		lineNo++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if header == nil {
			if fields[0] != "entries" {
				return st, fmt.Errorf("%s:%d: want a header starting with \"entries\", got %q", file, lineNo, clip(sc.Text()))
			}
			header = fields
			continue
		}
		if len(fields) != len(header) {
			return st, fmt.Errorf("%s:%d: %d values for %d columns", file, lineNo, len(fields), len(header))
		}
		c := ConntrackCPU{CPU: len(st.PerCPU)}
		for i, f := range fields {
			n, err := strconv.ParseUint(f, 16, 64)
			if err != nil {
				return st, fmt.Errorf("%s:%d: column %s: %w", file, lineNo, header[i], err)
			}
			if header[i] == "entries" {
				st.Entries = int64(n)
				continue
			}
			c.set(header[i], n)
		}
		st.PerCPU = append(st.PerCPU, c)
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("%s: %w", file, err)
	}
	if header == nil {
		return st, fmt.Errorf("%s: empty", file)
	}
	return st, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
