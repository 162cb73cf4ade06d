package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func sample() *Snapshot {
	s := &Snapshot{Manifest: Manifest{Schema: BundleSchema, ToolVersion: "test", CollectedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}
	s.Nodes = []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}}
	for i := 0; i < 100; i++ {
		s.Pods = append(s.Pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + string(rune('a'+i%26)), Namespace: "ns", Labels: map[string]string{"i": "x"}}})
	}
	s.SetFile("nodes/n1/iptables-save.txt", []byte("*nat\nCOMMIT\n"))
	return s
}

func TestBundleRoundTrip(t *testing.T) {
	for _, dest := range []string{"dir", "b.tar.gz"} {
		t.Run(dest, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), dest)
			if err := sample().Write(p); err != nil {
				t.Fatal(err)
			}
			got, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Pods) != 100 || len(got.Nodes) != 1 {
				t.Errorf("got %d pods, %d nodes; want 100, 1", len(got.Pods), len(got.Nodes))
			}
			if b, _ := got.NodeFile("n1", "iptables-save.txt"); string(b) != "*nat\nCOMMIT\n" {
				t.Errorf("node file = %q; want the original", b)
			}
			if got.Manifest.Counts["pods"] != 100 {
				t.Errorf("manifest counts pods = %d; want 100", got.Manifest.Counts["pods"])
			}
			if ns := got.NodesWithFiles(); len(ns) != 1 || ns[0] != "n1" {
				t.Errorf("NodesWithFiles = %v; want [n1]", ns)
			}
		})
	}
}

func TestBundleBadInput(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good")
	if err := sample().Write(good); err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(t.TempDir(), "good.tar.gz")
	if err := sample().Write(tgz); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T) string
		want    []string
	}{
		{"truncated tar.gz", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "t.tar.gz")
			os.WriteFile(p, full[:len(full)/2], 0o644)
			return p
		}, []string{"t.tar.gz", "truncated or corrupt"}},
		{"not gzip", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.tar.gz")
			os.WriteFile(p, []byte("hello"), 0o644)
			return p
		}, []string{"x.tar.gz", "not a .tar.gz"}},
		{"no manifest", func(t *testing.T) string {
			d := copyDir(t, good)
			os.Remove(filepath.Join(d, ManifestFile))
			return d
		}, []string{"manifest.json", "not a netdoctor bundle"}},
		{"corrupt json line", func(t *testing.T) string {
			d := copyDir(t, good)
			p := filepath.Join(d, "resources", "pods.jsonl")
			b, _ := os.ReadFile(p)
			lines := strings.Split(string(b), "\n")
			lines[41] = `{"metadata": {"name": "p", }`
			os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644)
			return d
		}, []string{"resources/pods.jsonl:42:"}},
		{"corrupt manifest", func(t *testing.T) string {
			d := copyDir(t, good)
			os.WriteFile(filepath.Join(d, ManifestFile), []byte("{\n\"schema\": \"netdoctor-bundle/v1\",\n\"toolVersion\": 3\n}"), 0o644)
			return d
		}, []string{"manifest.json:3:"}},
		{"future schema", func(t *testing.T) string {
			d := copyDir(t, good)
			os.WriteFile(filepath.Join(d, ManifestFile), []byte(`{"schema": "netdoctor-bundle/v2"}`), 0o644)
			return d
		}, []string{"manifest.json", "newer than this netdoctor reads", "upgrade"}},
		{"missing path", func(t *testing.T) string { return "/nonexistent/bundle" }, []string{"/nonexistent/bundle"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.prepare(t)
			_, err := Read(p)
			if err == nil {
				t.Fatalf("Read(%s) = nil error; want one containing %q", p, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Read error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestReadTarWithTopDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wrapped.tar.gz")
	f, _ := os.Create(p)
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	dir := filepath.Join(t.TempDir(), "b")
	if err := sample().Write(dir); err != nil {
		t.Fatal(err)
	}
	files, err := readFiles(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		tw.WriteHeader(&tar.Header{Name: "bundle/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	f.Close()
	s, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pods) != 100 {
		t.Errorf("got %d pods; want 100", len(s.Pods))
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	files, err := readFiles(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		p := filepath.Join(dst, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
	}
	return dst
}

// TestWriteTarManifestFirst: a reader streaming the archive learns the
// counts before the resources.
func TestWriteTarManifestFirst(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := sample().Write(p); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if len(names) == 0 || names[0] != ManifestFile {
		t.Errorf("entries %v; want %s first", names, ManifestFile)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".netdoctor-bundle-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteFails(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{filepath.Join(blocker, "b.tar.gz"), filepath.Join(blocker, "dir")} {
		err := sample().Write(dest)
		if err == nil || !strings.Contains(err.Error(), "writing bundle") {
			t.Errorf("Write(%s) = %v; want a writing bundle error", dest, err)
		}
	}
}

// TestReadTarCutInsideResource: an archive cut inside a resource file is
// reported with that file and the line it stops at.
func TestReadTarCutInsideResource(t *testing.T) {
	s := sample()
	for i := range 5000 {
		s.Pods = append(s.Pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d-%x", i, i*7919), Namespace: "ns"}})
	}
	p := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := s.Write(p); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar.gz")
	if err := os.WriteFile(cut, full[:len(full)*6/10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Read(cut)
	if err == nil || !strings.Contains(err.Error(), "truncated or corrupt archive: resources/pods.jsonl: line ") {
		t.Errorf("Read = %v; want the truncation named with resources/pods.jsonl and its line", err)
	}
}

// TestReadNoManifestNamesEachBundle: two bundles without a manifest are
// each named in their own error.
func TestReadNoManifestNamesEachBundle(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Read(dir)
		if err == nil || !strings.Contains(err.Error(), dir+": manifest.json") {
			t.Errorf("Read(%s) = %v; want the error to name %s", dir, err, dir)
		}
	}
}
