package agent

import (
	"sort"

	"github.com/netdoctor/netdoctor/internal/dnsprobe"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// Handlers is the one registration table of the agent: request kind ->
// handler. Add one line per kind.
func Handlers() map[string]Handler {
	return map[string]Handler{
		KindNodeData:    NodeData,
		dnsprobe.Kind:   dnsprobe.Handle,
		probe.AgentKind: probe.Handle,
	}
}

// Kinds lists a table's request kinds, sorted.
func Kinds(table map[string]Handler) []string {
	out := make([]string, 0, len(table))
	for k := range table {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
