package dnsprobe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
)

// Kind is the agent request kind of a DNS probe.
const Kind = "dns"

// Handle is the agent handler of the "dns" request kind: spec is a Spec
// (JSON), the result a *Result.
func Handle(ctx context.Context, spec json.RawMessage) (any, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("dns probe spec: %w", err)
	}
	res, err := (&Prober{}).Run(ctx, s)
	if err != nil {
		return nil, err
	}
	res.Node = os.Getenv("NODE_NAME")
	return res, nil
}
