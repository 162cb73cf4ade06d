package services

import (
	"testing"

	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

func TestBackendsGolden(t *testing.T) {
	snapshottest.RunGolden(t, "backends", Backends)
}

func TestDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{{"shop-web", "shopweb", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"same", "same", 0}}
	for _, c := range cases {
		if got := distance(c.a, c.b); got != c.want {
			t.Errorf("distance(%q, %q) = %d; want %d", c.a, c.b, got, c.want)
		}
	}
}
