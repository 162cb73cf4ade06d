package snapshot

import "time"

// BundleSchema is the version of the bundle layout this build reads and writes.
const BundleSchema = "netdoctor-bundle/v1"

// Manifest describes a snapshot: the bundle's manifest.json.
type Manifest struct {
	// Schema is BundleSchema for bundles this version writes.
	Schema string `json:"schema"`
	// ToolVersion is the netdoctor version that collected it.
	ToolVersion string `json:"toolVersion"`
	// CollectedAt is when collection started.
	CollectedAt time.Time `json:"collectedAt"`
	// Cluster names the kubeconfig context or server it came from.
	Cluster string `json:"cluster,omitempty"`
	// ServerVersion is the Kubernetes API server's version.
	ServerVersion string `json:"serverVersion,omitempty"`
	// Namespaces lists the namespaces collected; empty means all.
	Namespaces []string `json:"namespaces,omitempty"`
	// Skipped lists what could not be collected and why.
	Skipped []Skip `json:"skipped,omitempty"`
	// Counts is the number of objects collected per resource.
	Counts map[string]int `json:"counts,omitempty"`
}

// Skip records a resource that could not be collected.
type Skip struct {
	Resource string `json:"resource"`
	Reason   string `json:"reason"`
}
