// Package kubeproxyparse benchmarks netdoctor's iptables-save parser beside
// kube-proxy's own test parser, ParseIPTablesDump, on the same dump.
package kubeproxyparse

import (
	"bytes"
	"regexp"
	"sync"
	"testing"

	iptablestest "k8s.io/kubernetes/pkg/util/iptables/testing"

	"github.com/netdoctor/netdoctor/internal/iptables"
	gen "github.com/netdoctor/netdoctor/internal/iptables/iptablestest"
)

var (
	once sync.Once
	dump []byte
)

// dump20k is 20,000 NodePort Services x 5 endpoints in kube-proxy's rule
// shapes (about 400,000 rules).
func dump20k() []byte {
	once.Do(func() { dump = restoreForm(gen.KubeProxyDump(20000, 5)) })
	return dump
}

// restoreForm writes built-in chains as kube-proxy's iptables-restore
// input does (":INPUT - [0:0]"): ParseIPTablesDump only reads that form
// and rejects iptables-save's ":INPUT ACCEPT [0:0]".
func restoreForm(data []byte) []byte {
	return builtin.ReplaceAll(data, []byte(":$1 - "))
}

var builtin = regexp.MustCompile(`(?m)^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ACCEPT `)

func TestBothParsersAgree(t *testing.T) {
	data := restoreForm(gen.KubeProxyDump(300, 5))
	ours, err := iptables.Parse("gen", data)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := iptablestest.ParseIPTablesDump(string(data))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tab := range theirs.Tables {
		for _, c := range tab.Chains {
			n += len(c.Rules)
			mine := ours.Chain(string(tab.Name), string(c.Name))
			if mine == nil || len(mine.Rules) != len(c.Rules) {
				t.Fatalf("chain %s/%s: kube-proxy's parser has %d rules, ours %v", tab.Name, c.Name, len(c.Rules), mine)
			}
			for i, r := range c.Rules {
				if got, want := mine.Rules[i].Text, r.Raw; got != want {
					t.Errorf("%s/%s rule %d: got %q, want %q", tab.Name, c.Name, i+1, got, want)
				}
				if r.DNATDestination != nil {
					o, _ := mine.Rules[i].Target.Opt("--to-destination")
					if o.Arg() != r.DNATDestination.Value {
						t.Errorf("DNAT: got %q, want %q", o.Arg(), r.DNATDestination.Value)
					}
				}
			}
		}
	}
	if n != ours.Rules() {
		t.Errorf("rules: kube-proxy's parser %d, ours %d", n, ours.Rules())
	}
}

// BenchmarkNetdoctorParse is netdoctor's parser (internal/iptables).
func BenchmarkNetdoctorParse(b *testing.B) {
	data := dump20k()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iptables.Parse("bench", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKubeProxyParseIPTablesDump is kube-proxy's test parser on the
// same dump (it takes a string: the conversion is part of its cost).
func BenchmarkKubeProxyParseIPTablesDump(b *testing.B) {
	data := dump20k()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iptablestest.ParseIPTablesDump(string(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWcL counts lines, like wc -l.
func BenchmarkWcL(b *testing.B) {
	data := dump20k()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_ = bytes.Count(data, []byte("\n"))
	}
}
