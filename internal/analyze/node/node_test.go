package node

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

// runGolden runs analyze on every case of testdata/<area> against its
// golden file (snapshottest.RunGoldenCases).
func runGolden(t *testing.T, area string, analyze func(*snapshot.Snapshot) finding.Result) map[string]finding.Result {
	t.Helper()
	return snapshottest.RunGoldenCases(t, filepath.Join("testdata", area), analyze)
}

// expect is what a case must report, whatever the golden file says.
type expect struct {
	status   finding.Status
	findings map[string]finding.Severity // subject name -> severity
	contains []string                    // in some finding's text, or in the check reason
}

func verify(t *testing.T, results map[string]finding.Result, check string, want map[string]expect) {
	t.Helper()
	for name, w := range want {
		r, ok := results[name]
		if !ok {
			t.Errorf("case %s missing", name)
			continue
		}
		var c *finding.Check
		for i := range r.Checks {
			if r.Checks[i].Name == check {
				c = &r.Checks[i]
			}
		}
		if c == nil {
			t.Errorf("%s: no %s check", name, check)
			continue
		}
		if c.Status != w.status {
			t.Errorf("%s: check %s = %s (%s), want %s", name, check, c.Status, c.Reason, w.status)
		}
		got := map[string]finding.Severity{}
		var text strings.Builder
		text.WriteString(c.Reason)
		for _, f := range r.Findings {
			got[f.Subjects[0].Name] = f.Severity
			text.WriteString(strings.Join([]string{f.Title, strings.Join(f.Evidence, "\n"), f.Explanation, strings.Join(f.Remediation, "\n")}, "\n"))
		}
		if len(got) != len(w.findings) {
			t.Errorf("%s: findings for %v, want %v", name, got, w.findings)
		}
		for subj, sev := range w.findings {
			if got[subj] != sev {
				t.Errorf("%s: finding for %s has severity %q, want %q", name, subj, got[subj], sev)
			}
		}
		for _, s := range w.contains {
			if !strings.Contains(text.String(), s) {
				t.Errorf("%s: output does not mention %q", name, s)
			}
		}
	}
}

const (
	n0 = "aks-nodepool1-22064185-vmss000000"
	n1 = "aks-nodepool1-22064185-vmss000001"
	n2 = "aks-nodepool1-22064185-vmss000002"
)

func TestRoutes(t *testing.T) {
	results := runGolden(t, "routes", Routes)
	verify(t, results, CheckPodCIDRRoutes, map[string]expect{
		"kubenet-azure-route-missing": {finding.Failed, map[string]finding.Severity{n2: finding.Critical}, []string{
			"no route for pod CIDR 10.244.2.0/24 of node " + n2, "coredns-789789675-x2kfq",
			"az network route-table route create -g MC_rg-shop_aks-shop_westeurope --route-table-name aks-agentpool-22064185-routetable -n " + n2 + " --address-prefix 10.244.2.0/24 --next-hop-type VirtualAppliance --next-hop-ip-address 10.224.0.6"}},
		"kubenet-azure-healthy": {finding.Passed, nil, []string{"routes every pod CIDR to its node"}},
		"kubenet-azure-stale-next-hop": {finding.Failed, map[string]finding.Severity{n1: finding.Critical}, []string{
			"to 10.224.0.9, but the node's IP is 10.224.0.5", "route-table route update"}},
		"kubenet-table-not-associated": {finding.Failed, map[string]finding.Severity{n0: finding.Critical, n1: finding.Critical, n2: finding.Critical}, []string{
			"is not associated with the node subnet", "az network vnet subnet update --ids /subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg-shop-net"}},
		"host-routes": {finding.Failed, map[string]finding.Severity{n1: finding.Critical, n2: finding.Critical}, []string{
			"node " + n2 + " has a blackhole route for pod CIDR 10.244.1.0/24", "node " + n1 + " has no route for pod CIDR 10.244.2.0/24",
			"ip route replace 10.244.2.0/24 via 10.224.0.6  # on node " + n1}},
		"gateway-routed": {finding.Skipped, nil, []string{"send other nodes' pod CIDRs to their gateway", "no Azure data"}},
		"azure-cni":      {finding.Skipped, nil, []string{"not kubenet"}},
	})
}

func TestConntrack(t *testing.T) {
	results := runGolden(t, "conntrack", Conntrack)
	verify(t, results, CheckConntrack, map[string]expect{
		"mixed": {finding.Failed, map[string]finding.Severity{n0: finding.Critical, n1: finding.Info}, []string{
			"nf_conntrack_count 262144 of nf_conntrack_max 262144 (100%)",
			"3 \"nf_conntrack: table full, dropping packet\" messages",
			"insert_failed +27, drop +27, early_drop +425",
			"since boot: insert_failed=1 drop=1 early_drop=0 over 8 CPUs"}},
		"proc-near-full": {finding.Failed, map[string]finding.Severity{n0: finding.Warning}, []string{"(95%)", "conntrack table 95% full"}},
		"no-node-data":   {finding.Skipped, nil, []string{"--node-data"}},
		"bad-stats":      {finding.Error, nil, []string{"nodes/" + n0 + "/conntrack-stats.txt:1: want a line starting with cpu="}},
	})
}

func TestPressure(t *testing.T) {
	results := runGolden(t, "pressure", Pressure)
	verify(t, results, CheckConditions, map[string]expect{
		"memory-pressure":     {finding.Failed, map[string]finding.Severity{n1: finding.Warning, "api-7d9c6b5f8-qwz2x": finding.Warning}, []string{"MemoryPressure=True (KubeletHasInsufficientMemory", "taint node.kubernetes.io/memory-pressure:NoSchedule"}},
		"metrics-unavailable": {finding.Passed, nil, nil},
		"healthy":             {finding.Passed, nil, nil},
	})
	verify(t, results, CheckMetrics, map[string]expect{
		"memory-pressure":     {finding.Failed, map[string]finding.Severity{n1: finding.Warning, "api-7d9c6b5f8-qwz2x": finding.Warning}, []string{"memory usage 4985600Ki of allocatable 5160500Ki (97%", "container api: memory usage 509744Ki of limit 512Mi (97%)", "OOM-killed"}},
		"metrics-unavailable": {finding.Skipped, nil, []string{"metrics API not available: the server could not find the requested resource"}},
		"healthy":             {finding.Passed, nil, nil},
	})
}
