package finding

import (
	"os"
	"regexp"
	"testing"
)

// TestFindingsDocIsCurrent fails when docs/findings.md differs from the
// catalogue. Regenerate with `make docs`.
func TestFindingsDocIsCurrent(t *testing.T) {
	got := CatalogueMarkdown()
	want, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("docs/findings.md is out of date with the catalogue: run 'make docs'")
	}
}

func TestCatalogueEntriesAreComplete(t *testing.T) {
	code := regexp.MustCompile(`^[A-Z]{2,4}[0-9]{3}$`)
	seen := map[string]bool{}
	for _, e := range Catalogue() {
		if !code.MatchString(e.Code) {
			t.Errorf("code %q: not of the form AREA000", e.Code)
		}
		if seen[e.Code] {
			t.Errorf("code %s: listed twice", e.Code)
		}
		seen[e.Code] = true
		if e.Title == "" || e.Meaning == "" || e.Fix == "" || e.Area == "" || e.Severity.Rank() == 0 {
			t.Errorf("code %s: title, meaning, fix, area and severity are all required: %+v", e.Code, e)
		}
	}
}

func TestLookup(t *testing.T) {
	if e, err := Lookup("lb001"); err != nil || e.Code != "LB001" {
		t.Errorf("Lookup(lb001) = %v, %v; want LB001", e.Code, err)
	}
	if _, err := Lookup("NOPE999"); err == nil {
		t.Error("Lookup(NOPE999) = nil error; want an error")
	}
}
