package agent

import (
	"context"
	"encoding/json"
	"errors"
)

// KindNodeData collects the node's network artifacts (node view only).
const KindNodeData = "node-data"

// NodeData is the "node-data" handler.
func NodeData(ctx context.Context, spec json.RawMessage) (any, error) {
	return nil, errors.New("node-data: not implemented yet")
}
