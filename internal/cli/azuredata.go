package cli

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// azureOptions controls collection of Azure resources (--azure) for collect
// and diagnose.
type azureOptions struct {
	enabled bool
}

func (o *azureOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "azure", false, "also read the cluster's Azure resources (load balancer, NAT gateway, route tables, NSGs)")
}

// collect adds Azure resource JSON to snap.Files (azure/<name>.json) and
// records what it could not collect in snap.Manifest.Skipped.
func (o *azureOptions) collect(ctx context.Context, g *globals, snap *snapshot.Snapshot) error {
	if !o.enabled {
		return nil
	}
	return errors.New("--azure: not available in this build")
}
