package dns

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

// runGolden is snapshottest.RunGolden plus probe observations: a
// testdata/<dir>/<name>.dns.json beside <name>.yaml becomes the snapshot's
// probes/dns.json, and files under <name>.nodes/<node>/ its per-node
// artifacts. -update (snapshottest's flag) rewrites the golden files.
func runGolden(t *testing.T, dir string, analyze func(*snapshot.Snapshot) finding.Result) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s/*.yaml files (err %v)", dir, err)
	}
	update := false
	if f := flag.Lookup("update"); f != nil {
		update = f.Value.String() == "true"
	}
	for _, file := range files {
		base := strings.TrimSuffix(file, ".yaml")
		t.Run(filepath.Base(base), func(t *testing.T) {
			s, err := snapshottest.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(base + ".dns.json"); err == nil {
				s.SetFile(dnsprobe.ObservationsPath, b)
			}
			nodes, _ := filepath.Glob(filepath.Join(base+".nodes", "*", "*"))
			for _, nf := range nodes {
				b, err := os.ReadFile(nf)
				if err != nil {
					t.Fatal(err)
				}
				s.SetFile(snapshot.NodeFilePath(filepath.Base(filepath.Dir(nf)), filepath.Base(nf)), b)
			}
			r := analyze(s)
			got, err := json.MarshalIndent(struct {
				Findings []finding.Finding `json:"findings"`
				Checks   []finding.Check   `json:"checks"`
			}{r.Findings, r.Checks}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			gf := base + ".golden.json"
			if update {
				if err := os.WriteFile(gf, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from %s (run with -update after checking it):\ngot:\n%s\nwant:\n%s", file, gf, got, want)
			}
		})
	}
}

func TestCorefilesGolden(t *testing.T) { runGolden(t, "corefile", Corefiles) }
func TestPoliciesGolden(t *testing.T)  { runGolden(t, "netpol", Policies) }
func TestPodDNSGolden(t *testing.T)    { runGolden(t, "poddns", PodDNS) }
func TestProbesGolden(t *testing.T)    { runGolden(t, "probes", Probes) }
