package iptables

// matchOptions maps each known match module to its options and the number
// of arguments each takes. Options of a module not listed here are read
// generically (an option and the arguments up to the next option) and the
// match is reported as unknown.
var matchOptions = map[string]map[string]int{
	"comment": {"--comment": 1},
	"tcp": {
		"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1,
		"--tcp-flags": 2, "--syn": 0, "--tcp-option": 1,
	},
	"udp":  {"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1},
	"sctp": {"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1, "--chunk-types": 2},
	"multiport": {
		"--dports": 1, "--destination-ports": 1, "--sports": 1, "--source-ports": 1, "--ports": 1,
	},
	"statistic": {"--mode": 1, "--probability": 1, "--every": 1, "--packet": 1},
	"recent": {
		"--name": 1, "--set": 0, "--rcheck": 0, "--update": 0, "--remove": 0, "--seconds": 1,
		"--reap": 0, "--hitcount": 1, "--rttl": 0, "--rsource": 0, "--rdest": 0, "--mask": 1,
	},
	"addrtype": {"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0},
	"mark":     {"--mark": 1},
	"connmark": {"--mark": 1},
	"conntrack": {
		"--ctstate": 1, "--ctproto": 1, "--ctorigsrc": 1, "--ctorigdst": 1, "--ctreplsrc": 1,
		"--ctrepldst": 1, "--ctorigsrcport": 1, "--ctorigdstport": 1, "--ctreplsrcport": 1,
		"--ctrepldstport": 1, "--ctstatus": 1, "--ctexpire": 1, "--ctdir": 1,
	},
	"state": {"--state": 1},
	"set": {
		"--match-set": 2, "--return-nomatch": 0, "--update-counters": 0, "--update-subcounters": 0,
		"--packets-eq": 1, "--packets-lt": 1, "--packets-gt": 1, "--bytes-eq": 1, "--bytes-lt": 1, "--bytes-gt": 1,
	},
	"physdev": {
		"--physdev-in": 1, "--physdev-out": 1, "--physdev-is-in": 0, "--physdev-is-out": 0, "--physdev-is-bridged": 0,
	},
	"nfacct":    {"--nfacct-name": 1},
	"limit":     {"--limit": 1, "--limit-burst": 1},
	"iprange":   {"--src-range": 1, "--dst-range": 1},
	"icmp":      {"--icmp-type": 1},
	"icmp6":     {"--icmpv6-type": 1},
	"ipv6-icmp": {"--icmpv6-type": 1},
	"owner":     {"--uid-owner": 1, "--gid-owner": 1, "--socket-exists": 0, "--suppl-groups": 0},
	"socket":    {"--transparent": 0, "--nowildcard": 0, "--restore-skmark": 0},
	"mac":       {"--mac-source": 1},
	"pkttype":   {"--pkt-type": 1},
	"length":    {"--length": 1},
	"rpfilter":  {"--loose": 0, "--validmark": 0, "--accept-local": 0, "--invert": 0},
	"ttl":       {"--ttl-eq": 1, "--ttl-gt": 1, "--ttl-lt": 1},
}

// targetOptions maps each known target to its options and their number of
// arguments. A target name that is neither here nor a chain of the table is
// kept and reported as unknown.
var targetOptions = map[string]map[string]int{
	"ACCEPT": {}, "DROP": {}, "RETURN": {}, "QUEUE": {}, "NOTRACK": {},
	"REJECT":     {"--reject-with": 1},
	"DNAT":       {"--to-destination": 1, "--random": 0, "--persistent": 0},
	"SNAT":       {"--to-source": 1, "--random": 0, "--random-fully": 0, "--persistent": 0},
	"MASQUERADE": {"--to-ports": 1, "--random": 0, "--random-fully": 0},
	"REDIRECT":   {"--to-ports": 1, "--random": 0},
	"MARK": {
		"--set-xmark": 1, "--set-mark": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1,
	},
	"CONNMARK": {
		"--set-xmark": 1, "--set-mark": 1, "--save-mark": 0, "--restore-mark": 0, "--mask": 1,
		"--nfmask": 1, "--ctmask": 1, "--or-mark": 1, "--and-mark": 1, "--xor-mark": 1,
	},
	"LOG": {
		"--log-prefix": 1, "--log-level": 1, "--log-tcp-sequence": 0, "--log-tcp-options": 0,
		"--log-ip-options": 0, "--log-uid": 0,
	},
	"NFLOG":    {"--nflog-group": 1, "--nflog-prefix": 1, "--nflog-range": 1, "--nflog-threshold": 1, "--nflog-size": 1},
	"CT":       {"--notrack": 0, "--zone": 1, "--helper": 1, "--ctevents": 1, "--expevents": 1},
	"TCPMSS":   {"--clamp-mss-to-pmtu": 0, "--set-mss": 1},
	"CHECKSUM": {"--checksum-fill": 0},
	"TPROXY":   {"--on-port": 1, "--on-ip": 1, "--tproxy-mark": 1},
}

// basicOption maps an option of no module to its short name and number of
// arguments.
func basicOption(name string) (short string, n int, ok bool) {
	switch name {
	case "-p", "--protocol":
		return "-p", 1, true
	case "-s", "--source", "--src":
		return "-s", 1, true
	case "-d", "--destination", "--dst":
		return "-d", 1, true
	case "-i", "--in-interface":
		return "-i", 1, true
	case "-o", "--out-interface":
		return "-o", 1, true
	case "-f", "--fragment":
		return "-f", 0, true
	}
	return "", 0, false
}

// optSpec is one option of a module or target and its number of arguments;
// the few options of a module are searched in a slice, faster than a map.
type optSpec struct {
	name string
	n    int
}

type optTable []optSpec

func (t optTable) lookup(name string) (int, bool) {
	for _, o := range t {
		if o.name == name {
			return o.n, true
		}
	}
	return 0, false
}

func tables(m map[string]map[string]int) map[string]optTable {
	out := make(map[string]optTable, len(m))
	for mod, opts := range m {
		t := optTable{}
		for name, n := range opts {
			t = append(t, optSpec{name, n})
		}
		out[mod] = t
	}
	return out
}

var (
	matchTables  = tables(matchOptions)
	targetTables = tables(targetOptions)
)
