package analyze

import (
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/finding"
)

func TestCorrelateFoldsKPX001IntoServiceFinding(t *testing.T) {
	svc := []finding.Subject{{Kind: "Service", Namespace: "shop", Name: "web"}}
	other := []finding.Subject{{Kind: "Service", Namespace: "shop", Name: "lonely"}}
	fs := []finding.Finding{
		{Code: "KPX001", Subjects: svc, Evidence: []string{"rule 1", "rule 2", "rule 3", "rule 4"}},
		{Code: "SVC001", Subjects: svc, Evidence: []string{"selector"}},
		{Code: "KPX001", Subjects: other, Evidence: []string{"rule 9"}},
	}
	got := correlate(fs)
	if len(got) != 2 {
		t.Fatalf("got %d findings; want 2 (KPX001 for shop/web folded)", len(got))
	}
	if got[0].Code != "SVC001" || got[1].Code != "KPX001" {
		t.Fatalf("got codes %s, %s; want SVC001, KPX001", got[0].Code, got[1].Code)
	}
	ev := strings.Join(got[0].Evidence, "|")
	if ev != "selector|KPX001: rule 1|KPX001: rule 2|KPX001: rule 3|KPX001: ... and more: see KPX001" {
		t.Errorf("merged evidence %q", ev)
	}
}
