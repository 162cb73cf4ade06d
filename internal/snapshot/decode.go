package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	gojson "github.com/goccy/go-json"
)

// chunkSize is how much of a JSON-lines file one decoding job takes: large
// enough to keep the workers busy, small enough that the raw JSON in flight
// stays a few megabytes whatever the file's size.
const chunkSize = 1 << 20

// decodeStream decodes a JSON-lines stream, one object per line, as it is
// read: one goroutine reads chunks of whole lines and the CPUs decode and
// compact them into the result in place. hint is the expected number of
// objects (the manifest's count); the result grows past it when needed.
// slim, when not nil, drops from each object what netdoctor does not keep.
// Blank lines are ignored; an error names the file and line.
func decodeStream[T any](file string, r io.Reader, hint int, slim func(*T)) ([]T, error) {
	workers := runtime.GOMAXPROCS(0)
	type job struct {
		buf   *[]byte
		first int // 0-based line number of the chunk's first line
		dst   []T // the result's elements for the chunk's lines
	}
	var (
		jobs     = make(chan job, workers)
		free     = make(chan *[]byte, workers+2)
		inflight sync.WaitGroup
		done     sync.WaitGroup
		// errLine is the first line found bad so far: lines after it are
		// not decoded, lines before it still are, so that the error
		// reported is the file's first whatever the workers' order.
		errLine  atomic.Int64
		mu       sync.Mutex
		firstErr *BundleError
		blank    []int
	)
	for range workers + 2 {
		b := make([]byte, 0, chunkSize)
		free <- &b
	}
	errLine.Store(math.MaxInt64)
	fail := func(e *BundleError) {
		mu.Lock()
		if firstErr == nil || e.Line < firstErr.Line {
			firstErr = e
			errLine.Store(int64(e.Line))
		}
		mu.Unlock()
	}
	failed := func() bool { return errLine.Load() != math.MaxInt64 }
	for range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			c := newCompactor()
			for j := range jobs {
				data := *j.buf
				for i := range j.dst {
					if int64(j.first+i+1) > errLine.Load() {
						break
					}
					line := data
					if k := bytes.IndexByte(data, '\n'); k >= 0 {
						line, data = data[:k], data[k+1:]
					} else {
						data = nil
					}
					line = bytes.TrimSpace(line)
					if len(line) == 0 {
						mu.Lock()
						blank = append(blank, j.first+i)
						mu.Unlock()
						continue
					}
					if err := decodeLine(line, &j.dst[i]); err != nil {
						fail(&BundleError{File: file, Line: j.first + i + 1, Err: err})
						break
					}
					if slim != nil {
						slim(&j.dst[i])
					}
					c.compact(&j.dst[i])
				}
				free <- j.buf
				inflight.Done()
			}
		}()
	}

	out := make([]T, 0, max(hint, 0))
	lines := 0
	var readErr error
	failedAt := 0        // the line a read error cut
	carry := []byte(nil) // the start of a line the last chunk cut
	for !failed() {
		buf := <-free
		b := append((*buf)[:0], carry...)
		b, readErr = readChunk(r, b)
		if readErr != nil && readErr != io.EOF {
			failedAt = lines + bytes.Count(b, []byte{'\n'}) + 1
			free <- buf
			break
		}
		end := bytes.LastIndexByte(b, '\n') + 1
		if readErr != nil {
			end = len(b) // the last line needs no newline
		}
		carry = append(carry[:0], b[end:]...)
		b = b[:end]
		*buf = b
		n := bytes.Count(b, []byte{'\n'})
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		if n == 0 {
			free <- buf
		} else {
			if lines+n > cap(out) {
				// Workers write into out; it moves only when they are idle.
				inflight.Wait()
				out = slices.Grow(out[:lines], max(lines+n, 2*cap(out))-lines)
			}
			out = out[:lines+n]
			inflight.Add(1)
			jobs <- job{buf: buf, first: lines, dst: out[lines : lines+n]}
			lines += n
		}
		if readErr != nil {
			break
		}
	}
	close(jobs)
	done.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if readErr != nil && readErr != io.EOF {
		return nil, fmt.Errorf("%s: line %d: %w", file, failedAt, readErr)
	}
	if len(blank) > 0 {
		slices.Sort(blank)
		n, bi := 0, 0
		for i := range out {
			if bi < len(blank) && blank[bi] == i {
				bi++
				continue
			}
			out[n] = out[i]
			n++
		}
		clear(out[n:])
		out = out[:n]
	}
	if cap(out)-len(out) > len(out)/8 {
		// A manifest that overstated the count: give the spare back.
		out = slices.Clone(out)
	}
	return out[:len(out):len(out)], nil
}

// decodeLine decodes one object. goccy/go-json decodes the Kubernetes types
// identically to encoding/json (their UnmarshalJSON methods included) and
// several times faster, which matters for 150,000 pods; should it panic on
// some input, that is an error of the line like any other.
func decodeLine[T any](line []byte, dst *T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode: %v", r)
		}
	}()
	return gojson.Unmarshal(line, dst)
}

// readChunk appends to b from r until b holds at least chunkSize bytes and
// a newline, or r ends (io.EOF) or fails. A line longer than chunkSize
// grows the chunk.
func readChunk(r io.Reader, b []byte) ([]byte, error) {
	scanned := 0
	for {
		if len(b) >= chunkSize && bytes.IndexByte(b[scanned:], '\n') >= 0 {
			return b, nil
		}
		scanned = len(b)
		if len(b) == cap(b) {
			b = slices.Grow(b, chunkSize)
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, io.EOF
		}
		if err != nil {
			return b, err
		}
	}
}
