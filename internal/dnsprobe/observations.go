package dnsprobe

import (
	"encoding/json"
	"fmt"
)

// ObservationsPath is where probe observations live in a snapshot/bundle.
const ObservationsPath = "probes/dns.json"

// ObservationsSchema versions the file's format.
const ObservationsSchema = "netdoctor/dns-probe/v1"

// Observations is the content of probes/dns.json: one Result per place the
// probe ran, and the places where it could not run.
type Observations struct {
	Schema string   `json:"schema"`
	Runs   []Result `json:"runs"`
	// Failed lists the places where the probe could not run, and why.
	Failed []FailedRun `json:"failed,omitempty"`
	// Names are the names asked, with their kinds.
	Names []Name `json:"names,omitempty"`
}

// FailedRun is a place where the probe could not run.
type FailedRun struct {
	Where string `json:"where"`
	Error string `json:"error"`
}

// DecodeObservations parses probes/dns.json; errors name the file.
func DecodeObservations(b []byte) (*Observations, error) {
	var o Observations
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", ObservationsPath, err)
	}
	if o.Schema != ObservationsSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", ObservationsPath, o.Schema, ObservationsSchema)
	}
	return &o, nil
}

// Encode renders the observations as indented JSON.
func (o *Observations) Encode() ([]byte, error) {
	o.Schema = ObservationsSchema
	return json.MarshalIndent(o, "", "  ")
}
