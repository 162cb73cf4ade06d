// Package runner runs netdoctor's agent inside the cluster: it creates a
// labelled, short-lived pod (or a DaemonSet across nodes), waits for it,
// reads the agent's JSON result from the pod's log, and always deletes what
// it created.
package runner
