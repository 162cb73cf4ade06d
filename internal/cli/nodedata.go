package cli

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// nodeDataOptions controls collection of per-node artifacts (--node-data)
// for collect and diagnose.
type nodeDataOptions struct {
	enabled bool
}

func (o *nodeDataOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "node-data", false, "also collect per-node data (iptables, routes, sysctls, conntrack) through netdoctor's node agent")
}

// collect adds per-node artifacts to snap.Files (nodes/<node>/<name>) and
// records what it could not collect in snap.Manifest.Skipped.
func (o *nodeDataOptions) collect(ctx context.Context, g *globals, snap *snapshot.Snapshot) error {
	if !o.enabled {
		return nil
	}
	return errors.New("--node-data: not available in this build")
}
