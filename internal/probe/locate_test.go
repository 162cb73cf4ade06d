package probe

import (
	"strings"
	"testing"
)

// series builds a summarized series of one kind from outcomes, with HTTP
// statuses for http-status outcomes.
func series(kind Kind, outcomes ...Outcome) Series {
	s := Series{Spec: Spec{Kind: kind, Target: "203.0.113.10:443"}}
	for i, o := range outcomes {
		obs := Observation{Seq: i + 1, Outcome: o}
		if o == HTTPStatus {
			obs.HTTP = &HTTPObservation{Status: 403}
		}
		s.Observations = append(s.Observations, obs)
	}
	return summarize(s)
}

func leg(place Place, node string, ss ...Series) Leg {
	return Leg{Place: place, Name: node, Node: node, Series: ss}
}

func TestConclude(t *testing.T) {
	ok := series(KindTCP, OK, OK, OK)
	timeout := series(KindTCP, Timeout, Timeout, Timeout)
	refused := series(KindTCP, Refused, Refused, Refused)
	flaky := series(KindTCP, OK, Timeout, OK)
	http403 := series(KindHTTP, HTTPStatus, HTTPStatus)
	http200 := series(KindHTTP, OK, OK)
	tests := []struct {
		name  string
		legs  []Leg
		want  Locus
		inter bool
		text  string
	}{
		{"all ok", []Leg{leg(PlaceOutside, "", ok), leg(PlaceNode, "n1", ok), leg(PlacePod, "n1", ok)}, LocusNone, false, "works from every place"},
		{"fails everywhere", []Leg{leg(PlaceOutside, "", timeout), leg(PlaceNode, "n1", timeout), leg(PlacePod, "n1", timeout)}, LocusRemote, false, "outside the cluster too"},
		{"outside only, failing", []Leg{leg(PlaceHere, "", refused)}, LocusRemote, false, "from everywhere"},
		{"works outside, fails in cluster", []Leg{leg(PlaceOutside, "", ok), leg(PlaceNode, "n1", timeout), leg(PlacePod, "n1", timeout)}, LocusEgress, false, "cluster's egress"},
		{"intermittent in cluster", []Leg{leg(PlaceOutside, "", ok), leg(PlaceNode, "n1", flaky), leg(PlacePod, "n1", flaky)}, LocusEgress, true, "intermittently"},
		{"no outside, timeouts", []Leg{leg(PlaceNode, "n1", timeout), leg(PlacePod, "n1", timeout)}, LocusRemoteOrEgress, false, "--outside-netns"},
		{"no outside, refused", []Leg{leg(PlaceNode, "n1", refused), leg(PlacePod, "n1", refused)}, LocusRemote, false, "nothing listens"},
		{"pod only", []Leg{leg(PlaceNode, "n1", ok), leg(PlacePod, "n1", timeout)}, LocusPod, false, "from the node"},
		{"one node", []Leg{leg(PlaceNode, "n1", ok), leg(PlacePod, "n1", ok), leg(PlaceNode, "n2", timeout), leg(PlacePod, "n2", timeout)}, LocusNode, false, "n2"},
		{"http level", []Leg{leg(PlaceOutside, "", ok, http200), leg(PlaceNode, "n1", ok, http403)}, LocusHTTP, false, "proxy or firewall"},
		{"nothing ran", []Leg{{Place: PlaceNode, Name: "n1", Error: "image pull failed"}}, LocusInconclusive, false, "no probe ran"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Conclude(tc.legs)
			if got.Locus != tc.want || got.Intermittent != tc.inter {
				t.Errorf("locus %s intermittent %v (%s), want %s %v", got.Locus, got.Intermittent, got.Summary, tc.want, tc.inter)
			}
			if !strings.Contains(got.Summary, tc.text) {
				t.Errorf("summary %q lacks %q", got.Summary, tc.text)
			}
		})
	}
}

func TestLegStateIgnoresUDPAndICMPWhenTCPRan(t *testing.T) {
	l := leg(PlaceNode, "n1", series(KindTCP, OK, OK), series(KindICMP, Timeout, Timeout))
	if st := l.State(); st.Verdict != VerdictOK {
		t.Errorf("verdict = %s, want ok: ICMP is blocked on many paths and only informs", st.Verdict)
	}
	l = leg(PlaceNode, "n1", series(KindUDP, Silence, Silence))
	if st := l.State(); st.Verdict != VerdictPersistent || st.Dominant != Silence {
		t.Errorf("udp-only leg: %+v, want persistent silence", st)
	}
}
