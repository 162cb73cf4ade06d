package finding

import (
	"fmt"
	"sort"
	"strings"
)

// Entry is the catalogue's description of a finding code: stable data, never
// parsed back out of messages.
type Entry struct {
	// Code is the stable identifier, e.g. "LB001".
	Code string
	// Area is the group of checks, e.g. "services", "dns".
	Area string
	// Title is the one-line summary.
	Title string
	// Severity is the usual severity; an occurrence may lower or raise it.
	Severity Severity
	// Meaning explains what the finding means and why it matters.
	Meaning string
	// Fix says how to fix or confirm it.
	Fix string
	// Seeds names the field guides the check comes from.
	Seeds []string
}

// catalogue is the one explicit table of every code, by area.
func catalogue() [][]Entry {
	return [][]Entry{
		serviceEntries,
		dnsEntries,
		kubeProxyEntries,
		nodeEntries,
		egressEntries,
		azureEntries,
	}
}

// Catalogue returns every entry, sorted by code.
func Catalogue() []Entry {
	var all []Entry
	for _, area := range catalogue() {
		all = append(all, area...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Code < all[j].Code })
	return all
}

// Lookup returns the entry for a code (case-insensitive).
func Lookup(code string) (Entry, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	for _, e := range Catalogue() {
		if e.Code == code {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("unknown finding code %q (see 'netdoctor explain --list')", code)
}
