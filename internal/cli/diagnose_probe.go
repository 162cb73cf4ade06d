package cli

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// probeOptions controls the active probes diagnose runs (--probe).
type probeOptions struct {
	enabled bool
}

func (o *probeOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "probe", false, "also run active probes from inside the cluster (creates short-lived, labelled agent pods and removes them)")
}

// run adds probe observations to snap.Files (probes/<name>.json) for the
// analyzers to read.
func (o *probeOptions) run(ctx context.Context, g *globals, snap *snapshot.Snapshot) error {
	if !o.enabled {
		return nil
	}
	return errors.New("--probe: not available in this build")
}
