package kubeproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// FileKubeProxyMetrics is the per-node artifact this analyzer reads for
// kube-proxy's sync state: kube-proxy's Prometheus metrics
// (GET 127.0.0.1:10249/metrics on the node), stored as
// nodes/<node>/kube-proxy-metrics.txt.
const FileKubeProxyMetrics = "kube-proxy-metrics.txt"

// staleAfter is how long a queued sync may wait before kube-proxy counts as
// not syncing (kube-proxy's own /healthz allows about two sync periods).
const staleAfter = 2 * time.Minute

// syncMetrics is kube-proxy's IPv4 sync state.
type syncMetrics struct {
	lastSync, lastQueued time.Time
	restoreFailures      float64
	partialFailures      float64
}

// readSyncMetrics reads the sync metrics from Prometheus text; ok is false
// when the sync timestamps are absent.
func readSyncMetrics(b []byte) (m syncMetrics, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "kubeproxy_sync_proxy_rules_") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		labels := ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		if strings.Contains(labels, `ip_family="IPv6"`) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "kubeproxy_sync_proxy_rules_last_timestamp_seconds":
			m.lastSync, ok = unix(v), true
		case "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds":
			m.lastQueued = unix(v)
		case "kubeproxy_sync_proxy_rules_iptables_restore_failures_total":
			m.restoreFailures += v
		case "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total":
			m.partialFailures += v
		}
	}
	return m, ok
}

func unix(v float64) time.Time {
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// syncProblems describes what the metrics say is wrong with kube-proxy's
// syncing at now; nil when it is syncing.
func (m syncMetrics) problems(now time.Time) []string {
	var out []string
	if !m.lastQueued.IsZero() && m.lastQueued.After(m.lastSync) && now.Sub(m.lastQueued) > staleAfter {
		out = append(out, fmt.Sprintf("a rules sync has been queued since %s but the last sync finished at %s (%s before collection): kube-proxy is not syncing",
			m.lastQueued.Format(time.RFC3339), m.lastSync.Format(time.RFC3339), now.Sub(m.lastSync).Round(time.Second)))
	}
	if m.restoreFailures > 0 {
		out = append(out, fmt.Sprintf("iptables-restore failed %.0f time(s) since kube-proxy started (kubeproxy_sync_proxy_rules_iptables_restore_failures_total)", m.restoreFailures))
	}
	if m.partialFailures > 0 {
		out = append(out, fmt.Sprintf("partial iptables-restore failed %.0f time(s) (kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total)", m.partialFailures))
	}
	return out
}
