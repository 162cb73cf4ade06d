package cli

import (
	"fmt"
	"io"
	"time"
)

// progress prints collection steps to stderr once collection has taken
// more than a moment, so quick runs stay quiet: each resource when it is
// done, and a long list's count so far every few seconds.
type progress struct {
	w         io.Writer
	start     time.Time
	lastShown time.Time
	printed   bool
}

// progressEvery is how often a list still running is reported.
const progressEvery = 3 * time.Second

func newProgress(w io.Writer) *progress {
	now := time.Now()
	return &progress{w: w, start: now, lastShown: now}
}

func (p *progress) step(resource string, n int, done bool) {
	now := time.Now()
	if now.Sub(p.start) < time.Second || (!done && now.Sub(p.lastShown) < progressEvery) {
		return
	}
	p.printed, p.lastShown = true, now
	verb := "listing"
	if done {
		verb = "collected"
	}
	fmt.Fprintf(p.w, "%s %d %s (%s)\n", verb, n, resource, now.Sub(p.start).Round(100*time.Millisecond))
}

func (p *progress) done() {
	if p.printed {
		fmt.Fprintf(p.w, "collection done in %s\n", time.Since(p.start).Round(100*time.Millisecond))
	}
}
