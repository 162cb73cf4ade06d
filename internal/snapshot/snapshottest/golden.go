package snapshottest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite golden files with the current output")

// golden is what a golden file holds.
type golden struct {
	Findings []finding.Finding `json:"findings"`
	Checks   []finding.Check   `json:"checks"`
}

// RunGolden runs analyze on every testdata/<dir>/*.yaml snapshot and
// compares the result with the .golden.json beside it. Run the test with
// -update to rewrite the golden files after an intended change.
func RunGolden(t *testing.T, dir string, analyze func(*snapshot.Snapshot) finding.Result) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s/*.yaml files (err %v)", dir, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			s, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			CompareGolden(t, strings.TrimSuffix(file, ".yaml")+".golden.json", analyze(s))
		})
	}
}

// RunGoldenCases runs analyze on every case directory under root (a
// directory holding cluster.yaml and artifacts, see LoadCase) and compares
// each result with <case>.golden.json beside the directory. It returns the
// results by case name, for tests that check facts beyond the golden text.
func RunGoldenCases(t *testing.T, root string, analyze func(*snapshot.Snapshot) finding.Result) map[string]finding.Result {
	t.Helper()
	cases, err := filepath.Glob(filepath.Join(root, "*", "cluster.yaml"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases (*/cluster.yaml) in %s (err %v)", root, err)
	}
	out := map[string]finding.Result{}
	for _, c := range cases {
		dir := filepath.Dir(c)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			s, err := LoadCase(dir)
			if err != nil {
				t.Fatal(err)
			}
			r := analyze(s)
			out[name] = r
			CompareGolden(t, dir+".golden.json", r)
		})
	}
	return out
}

// CompareGolden compares a result with a golden file, or rewrites the file
// when the test runs with -update.
func CompareGolden(t *testing.T, gf string, r finding.Result) {
	t.Helper()
	got, err := json.MarshalIndent(golden{Findings: r.Findings, Checks: r.Checks}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
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
		t.Errorf("output differs from %s (run with -update after checking it):\ngot:\n%s\nwant:\n%s", gf, got, want)
	}
}
