package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
)

// AgentKind is the agent request kind that runs probes.
const AgentKind = "probe"

// MaxProbesPerRequest bounds one request.
const MaxProbesPerRequest = 16

// Request is the spec of an agent "probe" request: the probes to run from
// where the agent runs, side by side.
type Request struct {
	Probes []Spec `json:"probes"`
}

// Report is the result of a Request: one series per probe, in order, and
// the TCP/UDP comparisons for targets probed both ways.
type Report struct {
	Series      []Series     `json:"series"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
}

// Validate checks every probe of the request.
func (r Request) Validate() error {
	if len(r.Probes) == 0 {
		return fmt.Errorf("probe request: no probes")
	}
	if len(r.Probes) > MaxProbesPerRequest {
		return fmt.Errorf("probe request: %d probes, at most %d", len(r.Probes), MaxProbesPerRequest)
	}
	for i, s := range r.Probes {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("probe request: probe %d: %w", i+1, err)
		}
	}
	return nil
}

// Do runs a request with this prober.
func (p *Prober) Do(ctx context.Context, r Request) (Report, error) {
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	series := p.RunAll(ctx, r.Probes)
	return Report{Series: series, Comparisons: CompareTransports(series)}, nil
}

// Handle is the agent's handler for "probe" requests: spec is a Request in
// JSON. It probes from the network namespace the agent runs in, with raw
// ICMP sockets when running as root.
func Handle(ctx context.Context, spec json.RawMessage) (any, error) {
	var r Request
	if err := json.Unmarshal(spec, &r); err != nil {
		return nil, fmt.Errorf("probe request: %w", err)
	}
	rep, err := New(os.Geteuid() == 0).Do(ctx, r)
	if err != nil {
		return nil, err
	}
	return rep, nil
}
