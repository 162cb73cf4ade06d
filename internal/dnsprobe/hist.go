package dnsprobe

import (
	"math"
	"time"
)

// Histogram records latencies in fixed log-scale buckets (histBucketsPerDecade
// per decade from 1µs to 100s, about 2.3% relative error), so its memory is
// constant however many queries it sees. Every latency is recorded; the
// maximum and the count are exact.
type Histogram struct {
	counts [histBuckets + 1]uint32
	n      uint64
	max    time.Duration
	sum    time.Duration
}

const (
	histBucketsPerDecade = 100
	histDecades          = 8 // 1µs .. 100s
	histBuckets          = histBucketsPerDecade * histDecades
	histMin              = time.Microsecond
)

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	b := int(math.Log10(float64(d)/float64(histMin)) * histBucketsPerDecade)
	if b > histBuckets {
		b = histBuckets
	}
	return b
}

// upper bound of bucket b.
func bucketUpper(b int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(10, float64(b+1)/histBucketsPerDecade))
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest latency recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average latency, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the latency below which a fraction q (0..1) of the
// recorded latencies fall: the upper bound of that bucket, capped at Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			if u := bucketUpper(b); u < h.max {
				return u
			}
			return h.max
		}
	}
	return h.max
}

// Merge adds another histogram's counts.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}
