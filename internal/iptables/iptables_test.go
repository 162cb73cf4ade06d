package iptables

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readDump(t *testing.T, name string) *Dump {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(name, data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return d
}

func TestParseKubeProxyFixture(t *testing.T) {
	d := readDump(t, "kubeproxy-overall.txt")
	if got, want := len(d.Tables), 2; got != want {
		t.Fatalf("tables: got %d, want %d", got, want)
	}
	if got, want := d.Rules(), 10+55; got != want {
		t.Errorf("rules: got %d, want %d", got, want)
	}
	if len(d.Unknown) != 0 {
		t.Errorf("unknown: got %v, want none", d.Unknown)
	}
	svc := d.Chain("nat", "KUBE-SVC-4SW47YFZTEDKD3PK")
	if svc == nil || len(svc.Rules) != 3 {
		t.Fatalf("KUBE-SVC-4SW47YFZTEDKD3PK: got %v", svc)
	}
	masq := svc.Rules[0]
	if got, want := masq.Num, 1; got != want {
		t.Errorf("rule number: got %d, want %d", got, want)
	}
	src, ok := masq.BasicOpt("-s")
	if !ok || !src.Neg || src.Arg() != "10.0.0.0/8" {
		t.Errorf("! -s: got %+v", src)
	}
	if got, want := masq.Comment(), "ns4/svc4:p80 cluster IP"; got != want {
		t.Errorf("comment: got %q, want %q", got, want)
	}
	tcp, ok := masq.Match("tcp")
	if !ok {
		t.Fatalf("no tcp match in %s", masq.Text)
	}
	if o, _ := tcp.Opt("--dport"); o.Arg() != "80" {
		t.Errorf("--dport: got %+v", o)
	}
	stat, ok := svc.Rules[1].Match("statistic")
	if !ok {
		t.Fatal("no statistic match")
	}
	if o, _ := stat.Opt("--probability"); o.Arg() != "0.5000000000" {
		t.Errorf("--probability: got %+v", o)
	}
	if got, want := svc.Rules[1].Target.Name, "KUBE-SEP-UKSFD7AGPMPPLUHC"; got != want {
		t.Errorf("target: got %q, want %q", got, want)
	}
	sep := d.Chain("nat", "KUBE-SEP-I77PXRDZVX7PMWMN").Rules[1]
	rec, ok := sep.Match("recent")
	if !ok {
		t.Fatal("no recent match")
	}
	if _, ok := rec.Opt("--set"); !ok {
		t.Errorf("recent --set missing: %+v", rec)
	}
	if o, _ := sep.Target.Opt("--to-destination"); sep.Target.Name != "DNAT" || o.Arg() != "10.180.0.3:80" {
		t.Errorf("DNAT: got %+v", sep.Target)
	}
	fwd := d.Chain("filter", "KUBE-FIREWALL").Rules[0]
	ct, _ := fwd.Match("conntrack")
	if o, _ := ct.Opt("--ctstate"); !o.Neg || o.Arg() != "RELATED,ESTABLISHED,DNAT" {
		t.Errorf("! --ctstate: got %+v", o)
	}
}

func TestParseCountersAndUnknown(t *testing.T) {
	d := readDump(t, "counters-legacy.txt")
	if got, want := len(d.Tables), 3; got != want {
		t.Fatalf("tables: got %d, want %d", got, want)
	}
	pre := d.Chain("raw", "PREROUTING")
	if !pre.Counters || pre.Packets != 1234 || pre.Bytes != 567890 || pre.Policy != "ACCEPT" {
		t.Errorf("raw PREROUTING: got %+v", pre)
	}
	out := d.Chain("raw", "OUTPUT").Rules[0]
	if !out.Counters || out.Packets != 12 || out.Bytes != 720 {
		t.Errorf("rule counters: got %+v", out)
	}
	if d.Chain("filter", "FORWARD").Policy != "DROP" {
		t.Errorf("FORWARD policy: got %q", d.Chain("filter", "FORWARD").Policy)
	}
	cali := d.Chain("filter", "cali-FORWARD").Rules
	if got, want := cali[1].Comment(), `say "hi" \ bye`; got != want {
		t.Errorf("escaped comment: got %q, want %q", got, want)
	}
	if !cali[3].Target.Goto || cali[3].Target.Name != "KUBE-FIREWALL" || !cali[3].Target.Known {
		t.Errorf("goto: got %+v", cali[3].Target)
	}
	var what []string
	for _, u := range d.Unknown {
		what = append(what, u.String())
	}
	want := []string{
		`line 41: filter/cali-FORWARD: match "bpf"`,
		`line 42: filter/cali-FORWARD: target "AUDIT" (not a chain of table "filter")`,
	}
	if !reflect.DeepEqual(what, want) {
		t.Errorf("unknown:\ngot  %q\nwant %q", what, want)
	}
	bpf, _ := cali[1].Match("bpf")
	if bpf.Known || len(bpf.Opts) != 1 || bpf.Opts[0].Arg() != "4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0" {
		t.Errorf("bpf kept: got %+v", bpf)
	}
	mp, _ := d.Chain("filter", "FORWARD").Rules[3].Match("multiport")
	if o, _ := mp.Opt("--dports"); o.Arg() != "80,443,8000:8100" {
		t.Errorf("multiport: got %+v", mp)
	}
	set, _ := d.Chain("filter", "FORWARD").Rules[2].Match("set")
	if o, _ := set.Opt("--match-set"); !reflect.DeepEqual(o.Args(), []string{"KUBE-CLUSTER-IP", "dst,dst"}) {
		t.Errorf("set: got %+v", set)
	}
}

func TestParseImplicitProtocolMatch(t *testing.T) {
	d, err := ParseString("", "*filter\n:INPUT ACCEPT\n-A INPUT -p udp --dport 53 ! --sport 1:1023 -j ACCEPT\nCOMMIT\n")
	if err != nil {
		t.Fatal(err)
	}
	r := d.Chain("filter", "INPUT").Rules[0]
	udp, ok := r.Match("udp")
	if !ok || len(udp.Opts) != 2 || !udp.Opts[1].Neg {
		t.Errorf("implicit udp match: got %+v", r.Matches)
	}
	if d.Chain("filter", "INPUT").Counters {
		t.Errorf("counters: got true for a declaration without them")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no commit", "*nat\n:A - [0:0]\n", "x.txt:1: table \"nat\" has no COMMIT"},
		{"rule outside table", "-A FOO -j ACCEPT\n", "x.txt:1: rule outside a table"},
		{"undeclared chain", "*nat\n:A - [0:0]\n-A B -j ACCEPT\nCOMMIT\n", "x.txt:3: rule for chain \"B\", which table \"nat\" does not declare"},
		{"bad address", "*nat\n:A -\n-A A -s 10.0.0.300 -j ACCEPT\nCOMMIT\n", "x.txt:3: option -s: bad address \"10.0.0.300\""},
		{"missing argument", "*nat\n:A -\n-A A -m tcp --dport\nCOMMIT\n", "x.txt:3: option --dport needs an argument"},
		{"unterminated quote", "*nat\n:A -\n-A A -m comment --comment \"abc\nCOMMIT\n", "x.txt:3: unterminated quoted string"},
		{"stray word", "*nat\n:A -\n-A A -m comment --comment a b -j ACCEPT\nCOMMIT\n", "x.txt:3: unexpected word \"b\""},
		{"bad counters", "*nat\n:A - [x:0]\nCOMMIT\n", "x.txt:2: bad counters"},
		{"duplicate table", "*nat\nCOMMIT\n*nat\nCOMMIT\n", "x.txt:3: table \"nat\" appears twice (first at line 1)"},
		{"double bang", "*nat\n:A -\n-A A ! ! -s 1.2.3.4 -j ACCEPT\nCOMMIT\n", "x.txt:3: \"!\" twice"},
		{"unknown target option", "*nat\n:A -\n-A A -j DNAT --to 1.2.3.4\nCOMMIT\n", "x.txt:3: target DNAT has no option --to"},
		{"junk", "*nat\nhello\nCOMMIT\n", "x.txt:2: unexpected line \"hello\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseString("x.txt", tc.in)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"10.0.0.0/255.255.0.0", "10.0.0.0/16"},
		{"fd00::1/64", "fd00::/64"},
	} {
		got, err := ParsePrefix(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("ParsePrefix(%q): got %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParsePrefix("10.0.0.0/255.0.255.0"); err == nil {
		t.Errorf("ParsePrefix of a non-contiguous mask: got no error")
	}
}

func TestRoundTripFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, data)
		})
	}
}

// checkRoundTrip parses, prints, parses again, and requires the same dump
// and a stable printed form.
func checkRoundTrip(t *testing.T, data []byte) {
	t.Helper()
	d1, err := Parse("in", data)
	if err != nil {
		return
	}
	out1 := d1.String()
	d2, err := ParseString("printed", out1)
	if err != nil {
		t.Fatalf("reparse of printed dump: %v\nprinted:\n%s", err, out1)
	}
	if diff := compareDumps(d1, d2); diff != "" {
		t.Fatalf("dump changed after print and parse: %s\nprinted:\n%s", diff, out1)
	}
	if out2 := d2.String(); out2 != out1 {
		t.Fatalf("printed form not stable:\nfirst:\n%s\nsecond:\n%s", out1, out2)
	}
}

// compareDumps compares what a dump means, not where it was read from
// (lines and raw text differ after printing).
func compareDumps(a, b *Dump) string {
	if len(a.Tables) != len(b.Tables) {
		return "table count"
	}
	for i, ta := range a.Tables {
		tb := b.Tables[i]
		if ta.Name != tb.Name || len(ta.Chains) != len(tb.Chains) {
			return "table " + ta.Name
		}
		for j, ca := range ta.Chains {
			cb := tb.Chains[j]
			if ca.Name != cb.Name || ca.Policy != cb.Policy || ca.Counters != cb.Counters ||
				ca.Packets != cb.Packets || ca.Bytes != cb.Bytes || len(ca.Rules) != len(cb.Rules) {
				return "chain " + ca.Name
			}
			for k, ra := range ca.Rules {
				rb := cb.Rules[k]
				ra2, rb2 := *ra, *rb
				ra2.Line, rb2.Line, ra2.Text, rb2.Text = 0, 0, "", ""
				if !reflect.DeepEqual(normRule(ra2), normRule(rb2)) {
					return "rule " + ra.Text + " vs " + rb.Text
				}
			}
		}
	}
	if len(a.Unknown) != len(b.Unknown) {
		return "unknown count"
	}
	return ""
}

func normRule(r Rule) Rule {
	norm := func(os []Opt) []Opt {
		if len(os) == 0 {
			return nil
		}
		return append([]Opt(nil), os...)
	}
	r.Basic = norm(r.Basic)
	r.Target.Opts = norm(r.Target.Opts)
	if len(r.Matches) == 0 {
		r.Matches = nil
	} else {
		ms := make([]Match, len(r.Matches))
		for i, m := range r.Matches {
			m.Opts = norm(m.Opts)
			ms[i] = m
		}
		r.Matches = ms
	}
	return r
}

func FuzzParseRoundTrip(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("*nat\n:A - [1:2]\n[3:4] -A A ! -p tcp -m tcp ! --dport 1:2 -j DNAT --to-destination [fd00::1]:80\nCOMMIT\n"))
	f.Add([]byte("*filter\n:X -\n-A X -m foo --bar \"a b\" ! --baz -j FOO --x y z\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data)
	})
}
