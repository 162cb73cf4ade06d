package nodedata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseConntrackS(t *testing.T) {
	tests := []struct {
		file                                 string
		cpus                                 int
		insertFailed, drop, earlyDrop, clash uint64
	}{
		{"conntrack-S-aks-5.15.txt", 2, 5, 5, 939985 + 938060, 770239427 + 771663566},
		{"conntrack-S-telegraf-8955.txt", 8, 1, 1, 0, 0},
		{"conntrack-S-local-6.18.txt", 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readTestdata(t, tt.file)
			st, err := ParseConntrackS(tt.file, data)
			if err != nil {
				t.Fatalf("ParseConntrackS: %v", err)
			}
			want := tt.cpus
			if want == 0 {
				want = bytes.Count(data, []byte("cpu="))
			}
			if len(st.PerCPU) != want {
				t.Errorf("cpus = %d, want %d", len(st.PerCPU), want)
			}
			tot := st.Total()
			if tot.InsertFailed != tt.insertFailed || tot.Drop != tt.drop || tot.EarlyDrop != tt.earlyDrop || tot.Clash != tt.clash {
				t.Errorf("totals insert_failed=%d drop=%d early_drop=%d clash=%d, want %d %d %d %d",
					tot.InsertFailed, tot.Drop, tot.EarlyDrop, tot.Clash, tt.insertFailed, tt.drop, tt.earlyDrop, tt.clash)
			}
			if st.Entries != -1 {
				t.Errorf("entries = %d, want -1 (conntrack -S has no entry count)", st.Entries)
			}
		})
	}
}

func TestParseConntrackSErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cpu=0 found=1\nconntrack v1.4.6 (conntrack-tools): Operation not permitted\n", "x.txt:2: want a line starting with cpu="},
		{"cpu=0 found=x\n", "x.txt:1: field found"},
		{"", "x.txt: no cpu= lines"},
	}
	for _, tt := range tests {
		_, err := ParseConntrackS("x.txt", []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConntrackS(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestParseProcConntrackStat(t *testing.T) {
	st, err := ParseProcConntrackStat("old", readTestdata(t, "proc-stat-nf_conntrack-old.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 0x85 || len(st.PerCPU) != 2 {
		t.Errorf("entries=%d cpus=%d, want 133 and 2", st.Entries, len(st.PerCPU))
	}
	if got, want := st.Total().Found, uint64(0x007782a9+0x00053a15); got != want {
		t.Errorf("found = %d, want %d", got, want)
	}
	if got, want := st.Total().Insert, uint64(0x0001e5a5+0x0001ce58); got != want {
		t.Errorf("insert = %d, want %d", got, want)
	}

	data := readTestdata(t, "proc-stat-nf_conntrack-6.18.txt")
	st, err = ParseProcConntrackStat("6.18", data)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(st.PerCPU), bytes.Count(data, []byte("\n"))-1; got != want {
		t.Errorf("cpus = %d, want %d", got, want)
	}

	_, err = ParseProcConntrackStat("bad", []byte("entries drop\n00000001\n"))
	if err == nil || !strings.Contains(err.Error(), "bad:2: 1 values for 2 columns") {
		t.Errorf("short line error = %v", err)
	}
}

func TestParseRoutes(t *testing.T) {
	routes, err := ParseRoutes("ip-route-kubenet.txt", readTestdata(t, "ip-route-kubenet.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(dst string) Route {
		r, ok := Lookup(routes, "main", netip.MustParseAddr(dst))
		if !ok {
			t.Fatalf("no route to %s", dst)
		}
		return r
	}
	tests := []struct {
		dst, wantType, wantPrefix, wantVia, wantDev string
	}{
		{"10.244.1.7", "unicast", "10.244.1.0/24", "10.240.0.5", "eth0"},
		{"10.244.0.9", "unicast", "10.244.0.0/24", "", "cbr0"},
		{"10.244.2.3", "blackhole", "10.244.2.0/24", "", ""},
		{"10.244.3.3", "unicast", "10.244.3.0/24", "10.240.0.7", ""},
		{"168.63.129.16", "unicast", "168.63.129.16/32", "10.240.0.1", "eth0"},
		{"8.8.8.8", "unicast", "0.0.0.0/0", "10.240.0.1", "eth0"},
	}
	for _, tt := range tests {
		r := lookup(tt.dst)
		via := ""
		if r.Via.IsValid() {
			via = r.Via.String()
		}
		if r.Type != tt.wantType || r.Dst.String() != tt.wantPrefix || via != tt.wantVia || r.Dev != tt.wantDev {
			t.Errorf("route to %s = %s %s via %q dev %q, want %s %s via %q dev %q",
				tt.dst, r.Type, r.Dst, via, r.Dev, tt.wantType, tt.wantPrefix, tt.wantVia, tt.wantDev)
		}
	}
	if r := lookup("10.244.3.3"); len(r.Nexthops) != 2 || r.Nexthops[1].Via.String() != "10.240.0.8" {
		t.Errorf("multipath nexthops = %+v, want 10.240.0.7 and 10.240.0.8", r.Nexthops)
	}
	if r, ok := Lookup(routes, "100", netip.MustParseAddr("1.1.1.1")); !ok || r.Via.String() != "10.240.0.9" {
		t.Errorf("table 100 default = %+v, %v; want via 10.240.0.9", r, ok)
	}
	var v6 int
	for _, r := range routes {
		if r.Dst.Addr().Is6() {
			v6++
		}
	}
	if v6 != 7 {
		t.Errorf("IPv6 routes = %d, want 7", v6)
	}
}

func TestParseRoutesPodAndErrors(t *testing.T) {
	// a pod's routes, from Azure/kube-egress-gateway#775
	pod := "default via 10.244.0.1 dev eth0 \n10.244.0.0/24 dev eth0 proto kernel scope link src 10.244.0.29\n"
	routes, err := ParseRoutes("pod", []byte(pod))
	if err != nil || len(routes) != 2 || routes[1].Src.String() != "10.244.0.29" || routes[1].Scope != "link" {
		t.Errorf("pod routes = %+v, %v", routes, err)
	}
	v6 := "default via fd00::1 dev eth0 metric 1024 pref medium\n"
	routes, err = ParseRoutes("v6", []byte(v6))
	if err != nil || routes[0].Dst.String() != "::/0" || routes[0].Metric != 1024 {
		t.Errorf("v6 default = %+v, %v", routes, err)
	}
	_, err = ParseRoutes("bad.txt", []byte("default via 10.0.0.1\n10.0.0.0/33 dev eth0\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "bad.txt:2: destination") {
		t.Errorf("bad prefix error = %v, want bad.txt:2: destination ...", err)
	}
}

func TestSummariseConnections(t *testing.T) {
	for _, file := range []string{"conntrack-L-snat.txt", "proc-nf_conntrack-snat.txt"} {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sum, err := SummariseConnections(file, f)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Entries != 6 || sum.TCPEstablished != 4 || sum.TCPSynSent != 2 || sum.Unparsed != 0 {
				t.Errorf("entries=%d established=%d synSent=%d unparsed=%d, want 6 4 2 0", sum.Entries, sum.TCPEstablished, sum.TCPSynSent, sum.Unparsed)
			}
			want := []DestinationCount{
				{IP: netip.MustParseAddr("20.50.2.3"), Port: 443, Established: 3, SNAT: 3},
				{IP: netip.MustParseAddr("20.50.2.3"), Port: 8443, SynSent: 2, SNAT: 2},
				{IP: netip.MustParseAddr("20.50.2.4"), Port: 443, Established: 1, SNAT: 1},
			}
			if len(sum.Destinations) != len(want) {
				t.Fatalf("destinations = %+v, want %+v", sum.Destinations, want)
			}
			for i := range want {
				if sum.Destinations[i] != want[i] {
					t.Errorf("destination %d = %+v, want %+v", i, sum.Destinations[i], want[i])
				}
			}
		})
	}
	t.Run("not natted", func(t *testing.T) {
		sum, err := SummariseConnections("netlink-876", bytes.NewReader(readTestdata(t, "conntrack-L-netlink-876.txt")))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Entries != 3 || len(sum.Destinations) != 1 || sum.Destinations[0].Established != 2 || sum.Destinations[0].SNAT != 0 {
			t.Errorf("summary = %+v, want 172.31.2.45:17652 with 2 established, none NATed", sum)
		}
	})
	t.Run("garbage line", func(t *testing.T) {
		sum, err := SummariseConnections("x", strings.NewReader("conntrack v1.4.7 (conntrack-tools): 6 flow entries have been shown.\n"))
		if err != nil || sum.Unparsed != 1 || !strings.HasPrefix(sum.FirstUnparsed, "x:1:") {
			t.Errorf("summary = %+v, %v; want 1 unparsed at x:1", sum, err)
		}
	})
}

func TestSysctls(t *testing.T) {
	s, err := ParseSysctls("sysctls.json", []byte(`{"net.ipv4.ip_local_port_range":"32768\t60999","net.netfilter.nf_conntrack_max":"262144","net.ipv4.ip_forward":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, ok, err := s.PortRange()
	if lo != 32768 || hi != 60999 || !ok || err != nil {
		t.Errorf("PortRange = %d %d %v %v", lo, hi, ok, err)
	}
	if n, ok, err := s.Int("net.netfilter.nf_conntrack_max"); n != 262144 || !ok || err != nil {
		t.Errorf("Int(max) = %d %v %v", n, ok, err)
	}
	if _, ok, _ := s.Int("net.netfilter.nf_conntrack_count"); ok {
		t.Error("absent sysctl reported present")
	}
	if _, _, err := s.Int("net.ipv4.ip_forward"); err == nil {
		t.Error("non-numeric sysctl gave no error")
	}
	if _, err := ParseSysctls("s.json", []byte("{")); err == nil || !strings.HasPrefix(err.Error(), "s.json:") {
		t.Errorf("bad JSON error = %v", err)
	}
	if got := SysctlName(SysctlPath("net.ipv4.conf.eth0.rp_filter")); got != "net.ipv4.conf.eth0.rp_filter" {
		t.Errorf("round trip = %q", got)
	}
}

func TestFilterKernelMessages(t *testing.T) {
	got := string(FilterKernelMessages(readTestdata(t, "dmesg-conntrack-full.txt")))
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("kept %d lines, want 4 (3 table full, 1 martian):\n%s", n, got)
	}
	if strings.Contains(got, "Link is Up") || strings.Contains(got, "forwarding state") {
		t.Errorf("kept unrelated lines:\n%s", got)
	}
	if n := TableFullLines([]byte(got)); n != 3 {
		t.Errorf("TableFullLines = %d, want 3", n)
	}
}

func TestKubelet(t *testing.T) {
	// AKS passes --cluster-dns on the command line and also uses a config file.
	cmdline := []byte("/usr/local/bin/kubelet\x00--enable-server\x00--node-labels=agentpool=nodepool1\x00--cluster-dns=10.0.0.10\x00--cluster-domain=cluster.local\x00--config\x00/var/lib/kubelet/config.yaml\x00")
	k := ParseKubeletCmdline(cmdline)
	if strings.Join(k.ClusterDNS, ",") != "10.0.0.10" || k.ClusterDomain != "cluster.local" || k.ConfigPath != "/var/lib/kubelet/config.yaml" {
		t.Errorf("flags = %+v", k)
	}
	cfg := []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS:\n- 169.254.20.10\nclusterDomain: cluster.local\n")
	k2, err := MergeKubeletConfig(Kubelet{}, "/var/lib/kubelet/config.yaml", cfg)
	if err != nil || strings.Join(k2.ClusterDNS, ",") != "169.254.20.10" || k2.Source != "config /var/lib/kubelet/config.yaml" {
		t.Errorf("config = %+v, %v", k2, err)
	}
	k3, err := MergeKubeletConfig(k, "/var/lib/kubelet/config.yaml", cfg)
	if err != nil || strings.Join(k3.ClusterDNS, ",") != "10.0.0.10" {
		t.Errorf("flags should win over config: %+v, %v", k3, err)
	}
	b, _ := json.Marshal(k3)
	back, err := ParseKubelet("kubelet.json", b)
	if err != nil || back.ClusterDomain != "cluster.local" {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestKubeProxyMetricsKeepsOwnSeries(t *testing.T) {
	page := []byte(`# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"} 0
kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7637696e+09
`)
	got := string(KubeProxyMetrics(page))
	want := `# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"} 0
kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7637696e+09
`
	if got != want {
		t.Errorf("KubeProxyMetrics:\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestSummariseConnectionsSources(t *testing.T) {
	table := `ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.0.5 dst=20.50.2.3 sport=53422 dport=443 src=20.50.2.3 dst=10.240.0.4 sport=443 dport=53422 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.0.5 dst=20.50.2.3 sport=53423 dport=443 src=20.50.2.3 dst=10.240.0.4 sport=443 dport=53423 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 119 SYN_SENT src=10.244.0.9 dst=20.50.2.4 sport=40000 dport=443 [UNREPLIED] src=20.50.2.4 dst=10.240.0.4 sport=443 dport=40000 mark=0 zone=0 use=2
ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.0.9 dst=10.0.0.1 sport=40001 dport=443 src=10.240.0.10 dst=10.244.0.9 sport=6443 dport=40001 [ASSURED] mark=0 zone=0 use=2
`
	sum, err := SummariseConnections("nf_conntrack", strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(sum.Sources)
	want := "[{10.244.0.5 2 0} {10.244.0.9 0 1}]" // the private 10.0.0.1 is not counted
	if got != want {
		t.Errorf("Sources = %s; want %s", got, want)
	}
}
