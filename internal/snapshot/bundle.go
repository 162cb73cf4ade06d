package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// ManifestFile is the name of the bundle's manifest.
const ManifestFile = "manifest.json"

// resource describes one Kubernetes resource list stored in a bundle as
// resources/<Name>.jsonl, one object per line.
type resource struct {
	Name   string
	decode func(s *Snapshot, file string, r io.Reader, hint int) error
	encode func(s *Snapshot, w io.Writer) error
	count  func(s *Snapshot) int
}

// resources is the table of Kubernetes resources a bundle holds. Each is
// slimmed as it is read, as when it is collected.
var resources = []resource{
	resourceOf("nodes", func(s *Snapshot) *[]corev1.Node { return &s.Nodes }, slimNode),
	resourceOf("namespaces", func(s *Snapshot) *[]corev1.Namespace { return &s.Namespaces }, slimNamespace),
	resourceOf("pods", func(s *Snapshot) *[]corev1.Pod { return &s.Pods }, slimPod),
	resourceOf("services", func(s *Snapshot) *[]corev1.Service { return &s.Services }, slimService),
	resourceOf("endpointslices", func(s *Snapshot) *[]discoveryv1.EndpointSlice { return &s.EndpointSlices }, slimEndpointSlice),
	resourceOf("networkpolicies", func(s *Snapshot) *[]networkingv1.NetworkPolicy { return &s.NetworkPolicies }, slimNetworkPolicy),
	resourceOf("events", func(s *Snapshot) *[]corev1.Event { return &s.Events }, slimEvent),
	resourceOf("configmaps", func(s *Snapshot) *[]corev1.ConfigMap { return &s.ConfigMaps }, slimConfigMap),
	resourceOf("daemonsets", func(s *Snapshot) *[]appsv1.DaemonSet { return &s.DaemonSets }, slimDaemonSet),
	resourceOf("deployments", func(s *Snapshot) *[]appsv1.Deployment { return &s.Deployments }, slimDeployment),
}

// resourceOf describes the resource list of a snapshot that field returns.
func resourceOf[T any](name string, field func(*Snapshot) *[]T, slim func(*T)) resource {
	return resource{
		Name: name,
		decode: func(s *Snapshot, file string, r io.Reader, hint int) (err error) {
			*field(s), err = decodeStream(file, r, hint, slim)
			return err
		},
		encode: func(s *Snapshot, w io.Writer) error { return encodeLines(w, *field(s)) },
		count:  func(s *Snapshot) int { return len(*field(s)) },
	}
}

func resourcePath(name string) string { return "resources/" + name + ".jsonl" }

// BundleError is an error in a bundle's content, naming the file and, where
// it applies, the line.
type BundleError struct {
	Bundle string
	File   string
	Line   int
	Err    error
}

func (e *BundleError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Bundle != "" {
		loc = e.Bundle + ": " + loc
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *BundleError) Unwrap() error { return e.Err }

// Read reads a bundle from a directory or a .tar.gz file. Resource files
// are decoded as they are read, so the raw JSON of a large cluster is never
// whole in memory.
func Read(bundle string) (*Snapshot, error) {
	st, err := os.Stat(bundle)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	var s *Snapshot
	if st.IsDir() {
		s, err = readDir(bundle)
	} else {
		s, err = readTarGz(bundle)
	}
	if err != nil {
		var be *BundleError
		if errors.As(err, &be) && be.Bundle == "" {
			be.Bundle = bundle
			return nil, be
		}
		return nil, err
	}
	return s, nil
}

// decodeManifest parses and checks a bundle's manifest.
func decodeManifest(mb []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return m, &BundleError{File: ManifestFile, Line: jsonErrorLine(mb, err), Err: err}
	}
	if err := checkSchema(m.Schema); err != nil {
		return m, &BundleError{File: ManifestFile, Err: err}
	}
	return m, nil
}

// noManifest is the error of a bundle without a manifest: a new one each
// time, as Read names the bundle in it.
func noManifest() error {
	return &BundleError{File: ManifestFile, Err: errors.New("missing: this is not a netdoctor bundle (create one with 'netdoctor collect')")}
}

// resourceByPath returns the resource stored at a bundle path,
// resources/<name>.jsonl.
func resourceByPath(p string) (resource, bool) {
	for _, r := range resources {
		if p == resourcePath(r.Name) {
			return r, true
		}
	}
	return resource{}, false
}

// decodeResource decodes one resource file into s, hinting its object count
// from the manifest.
func decodeResource(s *Snapshot, r resource, rd io.Reader, size int64) error {
	hint := s.Manifest.Counts[r.Name]
	// Every object takes at least a line of "{}"; a manifest cannot make
	// the reader reserve more than the file can hold.
	if size >= 0 {
		hint = min(hint, int(size/3)+1)
	}
	return r.decode(s, resourcePath(r.Name), rd, hint)
}

func readDir(dir string) (*Snapshot, error) {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noManifest()
	}
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	s := &Snapshot{}
	if s.Manifest, err = decodeManifest(mb); err != nil {
		return nil, err
	}
	for _, r := range resources {
		f, err := os.Open(filepath.Join(dir, "resources", r.Name+".jsonl"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle: %w", err)
		}
		size := int64(-1)
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		err = decodeResource(s, r, f, size)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	files, err := readFiles(dir, func(rel string) bool { return rel == ManifestFile || strings.HasPrefix(rel, "resources/") })
	if err != nil {
		return nil, err
	}
	for name, b := range files {
		s.SetFile(name, b)
	}
	return s, nil
}

// readFiles reads every regular file under dir, keyed by its slash path
// relative to dir, except those skip names.
func readFiles(dir string, skip func(rel string) bool) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip != nil && skip(rel) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", dir, err)
	}
	return files, nil
}

// readTarGz reads a .tar.gz bundle in one pass: resource files are decoded
// as their entries stream by; the rest is kept in memory. A bundle wrapped
// in one top-level directory (as `tar czf b.tar.gz bundle/` makes) reads the
// same.
func readTarGz(file string) (*Snapshot, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: not a .tar.gz: %w", file, err)
	}
	tr := tar.NewReader(zr)
	s := &Snapshot{}
	files := map[string][]byte{}
	n := 0
	for ; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle %s: truncated or corrupt archive after %d files: %w", file, n, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return nil, fmt.Errorf("reading bundle %s: entry %q escapes the bundle", file, h.Name)
		}
		if r, ok := resourceByPath(withoutTopDir(name)); ok {
			if err := decodeResource(s, r, tr, h.Size); err != nil {
				var be *BundleError
				if !errors.As(err, &be) {
					// the error names the file and the line the archive was cut at
					err = fmt.Errorf("reading bundle %s: truncated or corrupt archive: %w", file, err)
				}
				return nil, err
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading bundle %s: %s: truncated or corrupt archive: %w", file, name, err)
		}
		if withoutTopDir(name) == ManifestFile {
			// The manifest comes before the resources in the bundles
			// netdoctor writes, so their counts size the decoding.
			m, err := decodeManifest(b)
			if err != nil {
				return nil, err
			}
			s.Manifest = m
		}
		files[name] = b
	}
	files = stripTopDir(files)
	if _, ok := files[ManifestFile]; !ok {
		return nil, noManifest()
	}
	delete(files, ManifestFile)
	for name, b := range files {
		if !strings.HasPrefix(name, "resources/") {
			s.SetFile(name, b)
		}
	}
	return s, nil
}

// withoutTopDir returns name without its first directory when it has one and
// what follows is a resource or the manifest, which a bundle keeps at its top.
func withoutTopDir(name string) string {
	if name == ManifestFile || strings.HasPrefix(name, "resources/") {
		return name
	}
	_, rest, ok := strings.Cut(name, "/")
	if ok && (rest == ManifestFile || strings.HasPrefix(rest, "resources/")) {
		return rest
	}
	return name
}

// stripTopDir removes a single top-level directory that wraps the whole
// bundle (as `tar czf b.tar.gz bundle/` makes).
func stripTopDir(files map[string][]byte) map[string][]byte {
	if _, ok := files[ManifestFile]; ok {
		return files
	}
	top := ""
	for name := range files {
		dir, _, ok := strings.Cut(name, "/")
		if !ok || (top != "" && dir != top) {
			return files
		}
		top = dir
	}
	out := make(map[string][]byte, len(files))
	for name, b := range files {
		out[strings.TrimPrefix(name, top+"/")] = b
	}
	return out
}

func checkSchema(schema string) error {
	if schema == BundleSchema {
		return nil
	}
	if schema == "" {
		return errors.New("no schema field: this is not a netdoctor bundle manifest")
	}
	prefix, ver, ok := strings.Cut(schema, "/v")
	if !ok || prefix != "netdoctor-bundle" {
		return fmt.Errorf("unknown schema %q: this is not a netdoctor bundle", schema)
	}
	return fmt.Errorf("schema %q is newer than this netdoctor reads (%s, version v%s): upgrade netdoctor", schema, BundleSchema, ver)
}

func encodeLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for i := range items {
		if err := enc.Encode(&items[i]); err != nil {
			return fmt.Errorf("object %d: %w", i+1, err)
		}
	}
	return nil
}

// jsonErrorLine returns the 1-based line of a JSON syntax error, or 0.
func jsonErrorLine(data []byte, err error) int {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n")) + 1
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return bytes.Count(data[:min(int(te.Offset), len(data))], []byte("\n")) + 1
	}
	return 0
}
