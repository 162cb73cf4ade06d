package analyze

import (
	"github.com/netdoctor/netdoctor/internal/finding"
)

// corroborations maps a finding code to the codes that explain the same
// root cause more directly. When both are reported for the same subject,
// the corroborating finding's evidence joins the explaining one and the
// corroborating finding is dropped, so one cause is reported once: a
// Service whose selector matches nothing (SVC001) also has kube-proxy
// REJECT rules (KPX001); the REJECT rule is evidence, not a second problem.
var corroborations = map[string][]string{
	"KPX001": {"SVC001", "SVC002", "SVC003", "DNS001"},
}

// maxMergedEvidence bounds the evidence lines carried over.
const maxMergedEvidence = 3

// correlate folds corroborating findings into the ones that explain them.
func correlate(fs []finding.Finding) []finding.Finding {
	type key struct{ code, subject string }
	index := map[key]int{}
	for i, f := range fs {
		for _, s := range f.Subjects {
			index[key{f.Code, s.String()}] = i
		}
	}
	drop := make([]bool, len(fs))
	for i, f := range fs {
		explainers, ok := corroborations[f.Code]
		if !ok || len(f.Subjects) == 0 {
			continue
		}
		for _, code := range explainers {
			j, ok := index[key{code, f.Subjects[0].String()}]
			if !ok {
				continue
			}
			ev := f.Evidence
			if len(ev) > maxMergedEvidence {
				ev = append(ev[:maxMergedEvidence:maxMergedEvidence], "... and more: see "+f.Code)
			}
			for _, e := range ev {
				fs[j].Evidence = append(fs[j].Evidence, f.Code+": "+e)
			}
			drop[i] = true
			break
		}
	}
	out := fs[:0]
	for i, f := range fs {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return out
}
