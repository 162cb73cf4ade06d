package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/netdoctor/netdoctor/internal/nodedata"
)

// KindNodeData collects the node's network artifacts (node view only).
const KindNodeData = "node-data"

// NodeDataResult is the "node-data" handler's result: every artifact by its
// name under nodes/<node>/ (see package nodedata), as text.
type NodeDataResult struct {
	Files map[string]string `json:"files"`
}

// NodeDataSpec is the "node-data" request's spec.
type NodeDataSpec struct {
	// ConntrackIntervalSeconds separates the two conntrack statistics
	// samples (default 3; negative takes one sample).
	ConntrackIntervalSeconds float64 `json:"conntrackIntervalSeconds,omitempty"`
}

// NodeData is the "node-data" handler: it collects the node's artifacts
// with nodedata.Collect in the node's namespaces (nodedata.HostEnv).
func NodeData(ctx context.Context, spec json.RawMessage) (any, error) {
	return nodeData(ctx, spec, nodedata.HostEnv())
}

func nodeData(ctx context.Context, spec json.RawMessage, env nodedata.Env) (any, error) {
	var s NodeDataSpec
	if len(spec) > 0 && string(spec) != "null" {
		if err := json.Unmarshal(spec, &s); err != nil {
			return nil, fmt.Errorf("node-data spec: %w", err)
		}
	}
	opts := nodedata.CollectOptions{ConntrackInterval: time.Duration(s.ConntrackIntervalSeconds * float64(time.Second))}
	files := nodedata.Collect(ctx, env, opts)
	res := NodeDataResult{Files: make(map[string]string, len(files))}
	for k, v := range files {
		res.Files[k] = string(v)
	}
	return res, nil
}
