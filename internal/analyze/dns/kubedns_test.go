package dns

import (
	"testing"

	"github.com/netdoctor/netdoctor/internal/snapshot/snapshottest"
)

func TestKubeDNSGolden(t *testing.T) {
	snapshottest.RunGolden(t, "kubedns", KubeDNS)
}
