package cli

import (
	"fmt"
	"io"
	"time"
)

// progress prints collection steps to stderr once collection has taken
// more than a moment, so quick runs stay quiet.
type progress struct {
	w       io.Writer
	start   time.Time
	printed bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) step(resource string, n int) {
	if time.Since(p.start) < time.Second {
		return
	}
	p.printed = true
	fmt.Fprintf(p.w, "collected %d %s (%s)\n", n, resource, time.Since(p.start).Round(100*time.Millisecond))
}

func (p *progress) done() {
	if p.printed {
		fmt.Fprintf(p.w, "collection done in %s\n", time.Since(p.start).Round(100*time.Millisecond))
	}
}
