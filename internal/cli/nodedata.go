package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/snapshot"
)

// nodeDataOptions controls collection of per-node artifacts (--node-data)
// for collect and diagnose.
type nodeDataOptions struct {
	enabled bool
	// required makes no node answering an error (collect: a bundle is
	// asked for to carry node data); otherwise it is a warning, and the
	// checks that need node data say why they were skipped (diagnose).
	required bool
	agent    agentOptions
}

func (o *nodeDataOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.enabled, "node-data", false, "also collect per-node data (iptables, routes, sysctls, conntrack) through netdoctor's node agent")
	o.agent.addFlags(fs)
}

// collect adds the metrics API's readings (always: they are read-only and
// cheap) and, with --node-data, per-node artifacts to snap.Files
// (nodes/<node>/<name>); it records what it could not collect in
// snap.Manifest.Skipped.
func (o *nodeDataOptions) collect(ctx context.Context, g *globals, snap *snapshot.Snapshot) error {
	collectMetrics(ctx, g, snap)
	if !o.enabled {
		return nil
	}
	r, err := o.agent.newRunner(g)
	if err != nil {
		return err
	}
	defer r.Close(ctx)
	if err := collectNodeData(ctx, r, snap); err != nil {
		return err
	}
	if len(snap.NodesWithFiles()) > 0 {
		return nil
	}
	if o.required {
		return fmt.Errorf("--node-data: no node answered: %s", snap.NoNodeDataReason())
	}
	// The checks that need node data say why they were skipped; the rest of
	// the diagnosis stands.
	fmt.Fprintf(g.streams.ErrOut, "warning: --node-data: no node answered: %s\n", snap.NoNodeDataReason())
	return nil
}

// collectNodeData runs the node-data request on every Linux node and stores
// the artifacts; nodes it could not read are recorded as skipped.
func collectNodeData(ctx context.Context, r *runner.Runner, snap *snapshot.Snapshot) error {
	resps, errs := r.RunAll(ctx, true, agent.Request{Kind: agent.KindNodeData})
	for _, resp := range resps {
		if resp.Error != "" && len(resp.Result) == 0 {
			snap.Manifest.Skipped = append(snap.Manifest.Skipped, snapshot.Skip{Resource: "nodes/" + resp.Node, Reason: resp.Error})
			continue
		}
		var res agent.NodeDataResult
		if err := json.Unmarshal(resp.Result, &res); err != nil {
			snap.Manifest.Skipped = append(snap.Manifest.Skipped, snapshot.Skip{Resource: "nodes/" + resp.Node, Reason: fmt.Sprintf("bad node-data result: %v", err)})
			continue
		}
		for name, content := range res.Files {
			snap.SetFile(snapshot.NodeFilePath(resp.Node, name), []byte(content))
		}
	}
	for _, err := range errs {
		res := snapshot.SkipNodeData
		var ne *runner.NodeError
		if errors.As(err, &ne) {
			res = "nodes/" + ne.Node
		}
		snap.Manifest.Skipped = append(snap.Manifest.Skipped, snapshot.Skip{Resource: res, Reason: err.Error()})
	}
	return ctx.Err()
}
