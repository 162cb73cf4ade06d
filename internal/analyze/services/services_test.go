package services

import (
	"testing"

	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

func TestBackendsGolden(t *testing.T) {
	snapshottest.RunGolden(t, "backends", Backends)
}
