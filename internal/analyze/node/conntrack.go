package node

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/nodedata"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// Thresholds of NODE002.
const (
	// conntrackNearFull is the fill ratio at which the table is near full.
	conntrackNearFull = 0.90
	// conntrackFull is the ratio at which new connections are dropped.
	conntrackFull = 1.0
)

// Conntrack reports NODE002 for every node whose connection tracking table
// is near full (nf_conntrack_count against nf_conntrack_max), whose kernel
// logged "table full, dropping packet", or whose insert_failed, drop or
// early_drop counters rose between the agent's two samples. Counters that
// are non-zero since boot but were not seen rising give an info finding.
// It reports the check "node/conntrack".
func Conntrack(s *snapshot.Snapshot) finding.Result {
	var res finding.Result
	nodes := s.NodesWithFiles()
	if len(nodes) == 0 {
		res.Check(CheckConntrack, finding.Skipped, s.NoNodeDataReason())
		return res
	}
	var bad, errs, ok []string
	checked := 0
	for _, node := range nodes {
		f, looked, err := conntrackNode(s, node)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if !looked {
			continue
		}
		checked++
		if f != nil {
			res.Add(*f)
			if f.Severity != finding.Info {
				bad = append(bad, node)
			}
			continue
		}
		ok = append(ok, node)
	}
	switch {
	case len(bad) > 0:
		res.Check(CheckConntrack, finding.Failed, "conntrack trouble on "+strings.Join(bad, ", "))
	case len(errs) > 0:
		res.Check(CheckConntrack, finding.Error, strings.Join(errs, "; "))
	case checked == 0:
		res.Check(CheckConntrack, finding.Skipped, "no node has conntrack data (sysctls.json, conntrack-stats.txt)")
	default:
		res.Check(CheckConntrack, finding.Passed, fmt.Sprintf("conntrack tables below %.0f%% and no failed insertions rising on %d nodes", conntrackNearFull*100, checked))
	}
	return res
}

// stats reads one node's statistics sample (conntrack -S or /proc).
func stats(s *snapshot.Snapshot, node string, second bool) (nodedata.ConntrackStats, string, bool, error) {
	for _, src := range []struct {
		name  string
		parse func(string, []byte) (nodedata.ConntrackStats, error)
	}{
		{nodedata.FileConntrackStats, nodedata.ParseConntrackS},
		{nodedata.FileConntrackStatsProc, nodedata.ParseProcConntrackStat},
	} {
		name := src.name
		if second {
			name = nodedata.SecondSample(name)
		}
		b, ok := s.NodeFile(node, name)
		if !ok {
			continue
		}
		path := snapshot.NodeFilePath(node, name)
		st, err := src.parse(path, b)
		return st, path, true, err
	}
	return nodedata.ConntrackStats{}, "", false, nil
}

func conntrackNode(s *snapshot.Snapshot, node string) (*finding.Finding, bool, error) {
	var ev []string
	sev := finding.Severity("")
	raise := func(to finding.Severity) {
		if to.Rank() > sev.Rank() {
			sev = to
		}
	}
	var titles []string
	looked := false
	var errs []string

	// fill ratio
	var count, max int64
	if b, ok := s.NodeFile(node, nodedata.FileSysctls); ok {
		sys, err := nodedata.ParseSysctls(snapshot.NodeFilePath(node, nodedata.FileSysctls), b)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			c, okc, errc := sys.Int("net.netfilter.nf_conntrack_count")
			m, okm, errm := sys.Int("net.netfilter.nf_conntrack_max")
			switch {
			case errc != nil || errm != nil:
				errs = append(errs, fmt.Sprintf("%s: %v %v", snapshot.NodeFilePath(node, nodedata.FileSysctls), errc, errm))
			case okc && okm && m > 0:
				looked = true
				count, max = c, m
				ratio := float64(c) / float64(m)
				line := fmt.Sprintf("nf_conntrack_count %d of nf_conntrack_max %d (%.0f%%)", c, m, ratio*100)
				if ratio >= conntrackNearFull {
					ev = append(ev, line)
					raise(finding.Warning)
					titles = append(titles, fmt.Sprintf("conntrack table %.0f%% full", ratio*100))
					if ratio >= conntrackFull {
						raise(finding.Critical)
					}
				} else {
					ev = append(ev, line)
				}
			}
		}
	}
	if b, ok := s.NodeFile(node, nodedata.FileDmesg); ok {
		looked = true
		if n := nodedata.TableFullLines(b); n > 0 {
			raise(finding.Critical)
			ev = append(ev, fmt.Sprintf("kernel log: %d \"nf_conntrack: table full, dropping packet\" messages (%s)", n, snapshot.NodeFilePath(node, nodedata.FileDmesg)))
			titles = append(titles, "kernel dropped packets: conntrack table full")
		}
	}

	// counters: first sample, and the second when there is one
	first, path1, ok1, err1 := stats(s, node, false)
	if err1 != nil {
		errs = append(errs, err1.Error())
	}
	if ok1 && err1 == nil {
		looked = true
		t1 := first.Total()
		second, path2, ok2, err2 := stats(s, node, true)
		if err2 != nil {
			errs = append(errs, err2.Error())
		}
		interval := ""
		if b, ok := s.NodeFile(node, nodedata.FileMeta); ok {
			var m nodedata.Meta
			if json.Unmarshal(b, &m) == nil && m.ConntrackIntervalSeconds > 0 {
				interval = fmt.Sprintf(" in %.1fs", m.ConntrackIntervalSeconds)
			}
		}
		if ok2 && err2 == nil {
			t2 := second.Total()
			var rising []string
			if d := delta(t1.InsertFailed, t2.InsertFailed); d > 0 {
				rising = append(rising, fmt.Sprintf("insert_failed +%d", d))
			}
			if d := delta(t1.Drop, t2.Drop); d > 0 {
				rising = append(rising, fmt.Sprintf("drop +%d", d))
			}
			if d := delta(t1.EarlyDrop, t2.EarlyDrop); d > 0 {
				rising = append(rising, fmt.Sprintf("early_drop +%d", d))
			}
			if len(rising) > 0 {
				raise(finding.Warning)
				ev = append(ev, fmt.Sprintf("counters rising%s between %s and %s: %s (totals now insert_failed=%d drop=%d early_drop=%d)",
					interval, path1, path2, strings.Join(rising, ", "), t2.InsertFailed, t2.Drop, t2.EarlyDrop))
				titles = append(titles, "conntrack insertions failing now")
			}
		}
		if sev == "" && (t1.InsertFailed > 0 || t1.Drop > 0 || t1.EarlyDrop > 0) {
			raise(finding.Info)
			how := "not seen rising between the two samples"
			if !ok2 {
				how = "one sample only, so the rate is unknown"
			}
			ev = append(ev, fmt.Sprintf("since boot: insert_failed=%d drop=%d early_drop=%d over %d CPUs (%s; %s)", t1.InsertFailed, t1.Drop, t1.EarlyDrop, len(first.PerCPU), path1, how))
			titles = append(titles, "conntrack insertions failed since boot")
		}
	}
	var err error
	if len(errs) > 0 {
		err = fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if sev == "" {
		return nil, looked, err
	}
	expl := "Connections through the node need conntrack entries. "
	if max > 0 && float64(count)/float64(max) >= conntrackNearFull {
		expl += fmt.Sprintf("The table holds %d of at most %d entries: when it is full the kernel drops the first packet of every new connection, which callers see as timeouts. ", count, max)
	}
	expl += "insert_failed and drop count packets whose entry could not be inserted; rising, they mean lost packets now. Without a full table the usual cause is the UDP race of parallel A and AAAA DNS queries from one socket (5-second DNS delays)."
	return &finding.Finding{
		Code:        "NODE002",
		Severity:    sev,
		Title:       fmt.Sprintf("Node %s: %s", node, strings.Join(titles, "; ")),
		Subjects:    []finding.Subject{nodeSubject(node)},
		Evidence:    ev,
		Explanation: expl,
		Remediation: []string{
			"see the busiest destinations in " + snapshot.NodeFilePath(node, nodedata.FileConnections) + " (or 'conntrack -L | sort | uniq -c' on the node)",
			fmt.Sprintf("sysctl -w net.netfilter.nf_conntrack_max=%d  # on the node, if it has the memory (about 300 bytes per entry)", suggestMax(max)),
			"for 5-second DNS delays: enable NodeLocal DNSCache, or add dnsConfig options single-request-reopen (glibc) to the affected pods",
		},
	}, true, err
}

func delta(a, b uint64) uint64 {
	if b > a {
		return b - a
	}
	return 0
}

func suggestMax(max int64) int64 {
	if max <= 0 {
		return 262144
	}
	return max * 2
}
