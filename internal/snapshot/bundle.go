package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"

	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// ManifestFile is the name of the bundle's manifest.
const ManifestFile = "manifest.json"

// resource describes one Kubernetes resource list stored in a bundle as
// resources/<Name>.jsonl, one object per line.
type resource struct {
	Name   string
	decode func(s *Snapshot, file string, data []byte) error
	encode func(s *Snapshot, w io.Writer) (int, error)
}

// resources is the table of Kubernetes resources a bundle holds.
var resources = []resource{
	{"nodes", func(s *Snapshot, f string, d []byte) (err error) {
		s.Nodes, err = decodeLines[corev1Node](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.Nodes) }},
	{"pods", func(s *Snapshot, f string, d []byte) (err error) { s.Pods, err = decodeLines[corev1Pod](f, d); return }, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.Pods) }},
	{"services", func(s *Snapshot, f string, d []byte) (err error) {
		s.Services, err = decodeLines[corev1Service](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.Services) }},
	{"endpointslices", func(s *Snapshot, f string, d []byte) (err error) {
		s.EndpointSlices, err = decodeLines[discoveryv1EndpointSlice](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.EndpointSlices) }},
	{"networkpolicies", func(s *Snapshot, f string, d []byte) (err error) {
		s.NetworkPolicies, err = decodeLines[networkingv1NetworkPolicy](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.NetworkPolicies) }},
	{"events", func(s *Snapshot, f string, d []byte) (err error) {
		s.Events, err = decodeLines[corev1Event](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.Events) }},
	{"configmaps", func(s *Snapshot, f string, d []byte) (err error) {
		s.ConfigMaps, err = decodeLines[corev1ConfigMap](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.ConfigMaps) }},
	{"daemonsets", func(s *Snapshot, f string, d []byte) (err error) {
		s.DaemonSets, err = decodeLines[appsv1DaemonSet](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.DaemonSets) }},
	{"deployments", func(s *Snapshot, f string, d []byte) (err error) {
		s.Deployments, err = decodeLines[appsv1Deployment](f, d)
		return
	}, func(s *Snapshot, w io.Writer) (int, error) { return encodeLines(w, s.Deployments) }},
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

// Read reads a bundle from a directory or a .tar.gz file.
func Read(bundle string) (*Snapshot, error) {
	st, err := os.Stat(bundle)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	var files map[string][]byte
	if st.IsDir() {
		files, err = readDir(bundle)
	} else {
		files, err = readTarGz(bundle)
	}
	if err != nil {
		return nil, err
	}
	s, err := FromFiles(files)
	if err != nil {
		var be *BundleError
		if errors.As(err, &be) {
			be.Bundle = bundle
			return nil, be
		}
		return nil, fmt.Errorf("%s: %w", bundle, err)
	}
	return s, nil
}

func readDir(dir string) (map[string][]byte, error) {
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
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", dir, err)
	}
	return files, nil
}

func readTarGz(file string) (map[string][]byte, error) {
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
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading bundle %s: truncated or corrupt archive after %d files: %w", file, len(files), err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return nil, fmt.Errorf("reading bundle %s: entry %q escapes the bundle", file, h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading bundle %s: %s: truncated or corrupt archive: %w", file, name, err)
		}
		files[name] = b
	}
	return stripTopDir(files), nil
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

// FromFiles builds a snapshot from a bundle's files, keyed by path. It
// removes the decoded resource files from the map to free their memory early.
func FromFiles(files map[string][]byte) (*Snapshot, error) {
	mb, ok := files[ManifestFile]
	if !ok {
		return nil, &BundleError{File: ManifestFile, Err: errors.New("missing: this is not a netdoctor bundle (create one with 'netdoctor collect')")}
	}
	s := &Snapshot{}
	if err := json.Unmarshal(mb, &s.Manifest); err != nil {
		return nil, &BundleError{File: ManifestFile, Line: jsonErrorLine(mb, err), Err: err}
	}
	if err := checkSchema(s.Manifest.Schema); err != nil {
		return nil, &BundleError{File: ManifestFile, Err: err}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, r := range resources {
		p := resourcePath(r.Name)
		data, ok := files[p]
		if !ok {
			continue
		}
		// Only this goroutine holds the raw bytes from here on, so they
		// can be freed as soon as they are decoded.
		delete(files, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.decode(s, p, data); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errs[0]
	}
	for name, b := range files {
		if name == ManifestFile || strings.HasPrefix(name, "resources/") {
			continue
		}
		s.SetFile(name, b)
	}
	return s, nil
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

// decodeLines decodes a JSON-lines file, splitting the work over the CPUs.
func decodeLines[T any](file string, data []byte) ([]T, error) {
	var starts []int
	for off := 0; off < len(data); {
		starts = append(starts, off)
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	out := make([]T, len(starts))
	keep := make([]bool, len(starts))
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(starts) + workers - 1) / workers
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr *BundleError
	)
	for w := 0; w < workers && w*chunk < len(starts); w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(starts))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				end := len(data)
				if i+1 < len(starts) {
					end = starts[i+1]
				}
				line := bytes.TrimSpace(data[starts[i]:end])
				if len(line) == 0 {
					continue
				}
				// goccy/go-json decodes the Kubernetes types identically to
				// encoding/json (their UnmarshalJSON methods included) and
				// several times faster, which matters for 150,000 pods.
				if err := gojson.Unmarshal(line, &out[i]); err != nil {
					mu.Lock()
					if firstErr == nil || i+1 < firstErr.Line {
						firstErr = &BundleError{File: file, Line: i + 1, Err: err}
					}
					mu.Unlock()
					return
				}
				keep[i] = true
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	n := 0
	for i := range out {
		if keep[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n:n], nil
}

func encodeLines[T any](w io.Writer, items []T) (int, error) {
	enc := json.NewEncoder(w)
	for i := range items {
		if err := enc.Encode(&items[i]); err != nil {
			return i, err
		}
	}
	return len(items), nil
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

// BundleFiles returns the snapshot as bundle files keyed by path, and records
// object counts in the manifest.
func (s *Snapshot) BundleFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	if s.Manifest.Schema == "" {
		s.Manifest.Schema = BundleSchema
	}
	s.Manifest.Counts = map[string]int{}
	for _, r := range resources {
		var buf bytes.Buffer
		n, err := r.encode(s, &buf)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", r.Name, err)
		}
		s.Manifest.Counts[r.Name] = n
		out[resourcePath(r.Name)] = buf.Bytes()
	}
	for name, b := range s.Files {
		out[name] = b
	}
	mb, err := json.MarshalIndent(s.Manifest, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	out[ManifestFile] = append(mb, '\n')
	return out, nil
}

// Write writes the snapshot as a bundle: a .tar.gz when dest ends in
// ".tar.gz" or ".tgz", a directory otherwise.
func (s *Snapshot) Write(dest string) error {
	files, err := s.BundleFiles()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.HasSuffix(dest, ".tar.gz") || strings.HasSuffix(dest, ".tgz") {
		return writeTarGz(dest, names, files)
	}
	for _, n := range names {
		p := filepath.Join(dest, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
	}
	return nil
}

func writeTarGz(dest string, names []string, files map[string][]byte) error {
	f, err := os.Create(dest)
	if err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return fmt.Errorf("writing bundle %s: %w", dest, err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			f.Close()
			return fmt.Errorf("writing bundle %s: %w", dest, err)
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("writing bundle %s: %w", dest, err)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("writing bundle %s: %w", dest, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", dest, err)
	}
	return nil
}
