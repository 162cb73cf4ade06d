// Package nodedata collects and parses the per-node artifacts netdoctor's
// node agent gathers: iptables-save, routes, rules, addresses, the sysctls
// that matter, conntrack statistics and connection tables, the node's
// resolv.conf, the kubelet's clusterDNS, kube-proxy's mode and kernel
// messages about conntrack and drops.
//
// Collect runs on the node (inside `netdoctor agent`, node view). The
// parsers read the stored artifacts back for the analyzers. Every artifact
// is stored in the bundle at nodes/<node>/<name>; the names are the
// constants below and the formats are documented in docs/agent.md.
package nodedata

// Artifact names under nodes/<node>/ in a bundle.
const (
	// FileIptablesSave is `iptables-save` output (all tables), raw.
	FileIptablesSave = "iptables-save.txt"
	// FileIPRoute is `ip route show table all` output, raw.
	FileIPRoute = "ip-route.txt"
	// FileIPRule is `ip rule show` output, raw.
	FileIPRule = "ip-rule.txt"
	// FileIPAddr is `ip addr show` output, raw.
	FileIPAddr = "ip-addr.txt"
	// FileSysctls is a JSON object of sysctl name to value (see Sysctls).
	FileSysctls = "sysctls.json"
	// FileConntrackStats is `conntrack -S` output, raw; when the conntrack tool
	// is missing, the agent stores /proc/net/stat/nf_conntrack instead as
	// FileConntrackStatsProc.
	FileConntrackStats = "conntrack-stats.txt"
	// FileConntrackStatsProc is /proc/net/stat/nf_conntrack, raw.
	FileConntrackStatsProc = "nf_conntrack-stat.txt"
	// FileConnections is the per-destination summary of the connection table
	// (see Connections).
	FileConnections = "connections.json"
	// FileResolvConf is the node's /etc/resolv.conf.
	FileResolvConf = "resolv.conf"
	// FileKubelet is a JSON object with the kubelet's clusterDNS (see Kubelet).
	FileKubelet = "kubelet.json"
	// FileKubeProxyMode is one line: iptables, ipvs, nftables or kernelspace,
	// then optionally " (source)".
	FileKubeProxyMode = "kube-proxy-mode.txt"
	// FileKubeProxyMetrics is kube-proxy's own Prometheus series
	// (kubeproxy_*) from its /metrics page, for KPX003's sync checks.
	FileKubeProxyMetrics = "kube-proxy-metrics.txt"
	// FileDmesg is the kernel messages about conntrack or dropped packets, raw
	// lines (at most MaxDmesgLines, newest last).
	FileDmesg = "dmesg.txt"
	// FileConntrackStats2 is the second `conntrack -S` sample, taken
	// Meta.ConntrackIntervalSeconds after the first.
	FileConntrackStats2 = "conntrack-stats-2.txt"
	// FileConntrackStatsProc2 is the second /proc/net/stat/nf_conntrack sample.
	FileConntrackStatsProc2 = "nf_conntrack-stat-2.txt"
	// FileMeta is agent.json: when and how the artifacts were collected (see Meta).
	FileMeta = "agent.json"
	// FileErrors is a JSON object of artifact name to why it could not be
	// collected.
	FileErrors = "errors.json"
)
