// Package agent is the in-cluster side of netdoctor: `netdoctor agent` reads
// one Request (JSON), performs it inside the pod or node it runs in, and
// writes one Response (JSON) to stdout, which the runner reads back from the
// pod's log.
package agent

import (
	"context"
	"encoding/json"
)

// Request asks the agent to do one thing. Kind selects the handler; Spec is
// the handler's own JSON input.
type Request struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec,omitempty"`
}

// Response is the agent's single line of output.
type Response struct {
	Kind string `json:"kind"`
	// Node is the node the agent ran on (from the downward API or hostname).
	Node string `json:"node,omitempty"`
	// Result is the handler's own JSON output.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is set when the handler failed; Result may still hold partial data.
	Error string `json:"error,omitempty"`
}

// Handler performs one kind of request inside the agent.
type Handler func(ctx context.Context, spec json.RawMessage) (any, error)
