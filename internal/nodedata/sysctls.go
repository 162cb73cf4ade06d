package nodedata

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// SysctlNames are the sysctls the agent reads from /proc/sys, besides every
// interface's rp_filter (net.ipv4.conf.<if>.rp_filter).
var SysctlNames = []string{
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_forward",
	"net.ipv4.conf.all.rp_filter",
	"net.ipv4.conf.default.rp_filter",
	"net.ipv4.tcp_tw_reuse",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_time",
	"net.netfilter.nf_conntrack_max",
	"net.netfilter.nf_conntrack_count",
	"net.netfilter.nf_conntrack_buckets",
	"net.netfilter.nf_conntrack_tcp_timeout_established",
	"net.netfilter.nf_conntrack_tcp_timeout_time_wait",
	"net.netfilter.nf_conntrack_udp_timeout",
	"net.bridge.bridge-nf-call-iptables",
	"net.core.somaxconn",
}

// SysctlPath is the /proc/sys path of a dotted sysctl name.
func SysctlPath(name string) string {
	return "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

// SysctlName is the dotted name of a /proc/sys path.
func SysctlName(path string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path, "/proc/sys/"), "/", ".")
}

// Sysctls maps a dotted sysctl name to its value as /proc/sys prints it,
// trimmed (tabs between numbers are kept, e.g. "32768\t60999").
type Sysctls map[string]string

// ParseSysctls reads sysctls.json.
func ParseSysctls(file string, data []byte) (Sysctls, error) {
	var s Sysctls
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// Int returns a numeric sysctl. ok is false when it is absent; err is set
// when it is present but not a number.
func (s Sysctls) Int(name string) (n int64, ok bool, err error) {
	v, ok := s[name]
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("sysctl %s=%q: %w", name, v, err)
	}
	return n, true, nil
}

// PortRange returns net.ipv4.ip_local_port_range as (first, last).
func (s Sysctls) PortRange() (first, last int, ok bool, err error) {
	v, ok := s["net.ipv4.ip_local_port_range"]
	if !ok {
		return 0, 0, false, nil
	}
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, 0, true, fmt.Errorf("sysctl net.ipv4.ip_local_port_range=%q: want two numbers", v)
	}
	if first, err = strconv.Atoi(f[0]); err == nil {
		last, err = strconv.Atoi(f[1])
	}
	if err != nil {
		return 0, 0, true, fmt.Errorf("sysctl net.ipv4.ip_local_port_range=%q: %w", v, err)
	}
	return first, last, true, nil
}
