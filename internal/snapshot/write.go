package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Write writes the snapshot as a bundle: a .tar.gz when dest ends in
// ".tar.gz" or ".tgz", a directory otherwise. It records the bundle schema
// and the object counts in the manifest. The manifest comes first, so that
// a reader knows the counts before the resources; resource files are encoded
// straight to the destination (for a .tar.gz through a temporary file, as an
// entry needs its size first), so writing takes little memory beyond the
// snapshot's own.
func (s *Snapshot) Write(dest string) (err error) {
	if s.Manifest.Schema == "" {
		s.Manifest.Schema = BundleSchema
	}
	s.Manifest.Counts = map[string]int{}
	for _, r := range resources {
		s.Manifest.Counts[r.Name] = r.count(s)
	}
	mb, err := json.MarshalIndent(s.Manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	var w bundleWriter
	if strings.HasSuffix(dest, ".tar.gz") || strings.HasSuffix(dest, ".tgz") {
		w, err = newTarWriter(dest)
	} else {
		w = dirWriter(dest)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if t, ok := w.(*tarWriter); ok && err != nil {
			os.Remove(t.dest) // half an archive is no bundle
		}
	}()
	if err := w.Add(ManifestFile, append(mb, '\n')); err != nil {
		return err
	}
	names := make([]string, 0, len(s.Files))
	for n := range s.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := w.Add(n, s.Files[n]); err != nil {
			return err
		}
	}
	for _, r := range resources {
		if err := w.Stream(resourcePath(r.Name), func(out io.Writer) error { return r.encode(s, out) }); err != nil {
			return fmt.Errorf("writing bundle %s: %s: %w", dest, resourcePath(r.Name), err)
		}
	}
	return nil
}

// bundleWriter writes a bundle's files.
type bundleWriter interface {
	// Add writes a file held in memory.
	Add(name string, data []byte) error
	// Stream writes a file that encode writes.
	Stream(name string, encode func(io.Writer) error) error
	Close() error
}

// dirWriter writes a bundle as a directory.
type dirWriter string

func (d dirWriter) create(name string) (*os.File, error) {
	p := filepath.Join(string(d), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("writing bundle: %w", err)
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("writing bundle: %w", err)
	}
	return f, nil
}

func (d dirWriter) Add(name string, data []byte) error {
	return d.Stream(name, func(w io.Writer) error { _, err := w.Write(data); return err })
}

func (d dirWriter) Stream(name string, encode func(io.Writer) error) error {
	f, err := d.create(name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = encode(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing bundle: %s: %w", f.Name(), err)
	}
	return nil
}

func (d dirWriter) Close() error { return nil }

// tarWriter writes a bundle as a .tar.gz.
type tarWriter struct {
	dest string
	f    *os.File
	zw   *gzip.Writer
	tw   *tar.Writer
}

func newTarWriter(dest string) (*tarWriter, error) {
	f, err := os.Create(dest)
	if err != nil {
		return nil, fmt.Errorf("writing bundle: %w", err)
	}
	zw := gzip.NewWriter(f)
	return &tarWriter{dest: dest, f: f, zw: zw, tw: tar.NewWriter(zw)}, nil
}

func (t *tarWriter) Add(name string, data []byte) error {
	return t.entry(name, int64(len(data)), bytes.NewReader(data))
}

func (t *tarWriter) entry(name string, size int64, r io.Reader) error {
	h := &tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing bundle %s: %w", t.dest, err)
	}
	if _, err := io.Copy(t.tw, r); err != nil {
		return fmt.Errorf("writing bundle %s: %s: %w", t.dest, name, err)
	}
	return nil
}

// Stream encodes to a temporary file beside the bundle, then copies it in.
func (t *tarWriter) Stream(name string, encode func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(t.dest), ".netdoctor-bundle-*")
	if err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := encode(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	return t.entry(name, size, bufio.NewReaderSize(tmp, 1<<20))
}

func (t *tarWriter) Close() error {
	err := errors.Join(t.tw.Close(), t.zw.Close(), t.f.Close())
	if err != nil {
		return fmt.Errorf("writing bundle %s: %w", t.dest, err)
	}
	return nil
}
