package corefile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The coredns-custom examples of AKS's "Customize CoreDNS" documentation.
var aksCustom = map[string]string{
	"test.server": `abc.com:53 {
    log
    errors
    rewrite stop {
      name regex (.*)\.contoso\.com {1}.default.svc.cluster.local
      answer name (.*)\.default\.svc\.cluster\.local {1}.contoso.com
    }
    forward . /etc/resolv.conf # you can redirect this to a specific DNS server such as 10.0.0.10, but that server must be able to resolve the rewritten domain name
}
`,
	"puglife.server": `puglife.world:53 {
    errors
    cache 30
    forward . 192.11.0.1  # this is my test server
}
`,
	"test.override": `hosts example.hosts example.org { # example.hosts must be a file
    10.0.0.1 example.org
    fallthrough
}
`,
	"log.override": "log\n",
	"unrelated":    "ignored: not matched by any import\n",
}

func TestParseAKSDefault(t *testing.T) {
	cf, err := ParseAKS("kube-system", map[string]string{"Corefile": string(read(t, "aks-default.Corefile"))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cf.Servers), 1; got != want {
		t.Fatalf("servers: got %d, want %d", got, want)
	}
	s := cf.Servers[0]
	if got, want := s.Keys, []string{".:53"}; !reflect.DeepEqual(got, want) {
		t.Errorf("keys: got %v, want %v", got, want)
	}
	var names []string
	for _, p := range s.Plugins {
		names = append(names, p.Name)
	}
	want := []string{"errors", "ready", "health", "kubernetes", "prometheus", "forward", "cache", "loop", "reload", "loadbalance"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("plugins: got %v, want %v", names, want)
	}
	fwd := s.Plugin("forward")[0]
	if got, want := fwd.Args, []string{".", "/etc/resolv.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("forward args: got %v, want %v", got, want)
	}
	if got, want := fwd.Where(), "kube-system/coredns:Corefile:13"; got != want {
		t.Errorf("forward where: got %q, want %q", got, want)
	}
	k := s.Plugin("kubernetes")[0]
	if got, want := len(k.Block), 3; got != want {
		t.Fatalf("kubernetes block: got %d lines, want %d", got, want)
	}
	if got, want := k.Block[1].String(), "fallthrough in-addr.arpa ip6.arpa"; got != want {
		t.Errorf("kubernetes block[1]: got %q, want %q", got, want)
	}
	if got, want := len(cf.Imports), 2; got != want {
		t.Fatalf("imports: got %d, want %d", got, want)
	}
	if got, want := cf.Imports[0], (Import{Pattern: "custom/*.override", Source: "kube-system/coredns:Corefile", Line: 18, Server: 0}); got != want {
		t.Errorf("import 0: got %+v, want %+v", got, want)
	}
	if got, want := cf.Imports[1].Server, -1; got != want {
		t.Errorf("import 1 server: got %d, want %d", got, want)
	}
}

func TestParseAKSCustom(t *testing.T) {
	cf, err := ParseAKS("kube-system", map[string]string{"Corefile": string(read(t, "aks-default.Corefile"))}, aksCustom)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range cf.Servers {
		keys = append(keys, strings.Join(s.Keys, ","))
	}
	// *.server keys in sorted key order, after the Corefile's own block.
	if got, want := keys, []string{".:53", "puglife.world:53", "abc.com:53"}; !reflect.DeepEqual(got, want) {
		t.Errorf("servers: got %v, want %v", got, want)
	}
	def := cf.Servers[0]
	logs := def.Plugin("log")
	if len(logs) != 1 {
		t.Fatalf("log plugins in default block: got %d, want 1", len(logs))
	}
	if got, want := logs[0].Where(), "kube-system/coredns-custom:log.override:1"; got != want {
		t.Errorf("log where: got %q, want %q", got, want)
	}
	hosts := def.Plugin("hosts")
	if len(hosts) != 1 {
		t.Fatalf("hosts plugins: got %d, want 1", len(hosts))
	}
	if got, want := hosts[0].Args, []string{"example.hosts", "example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts args: got %v, want %v", got, want)
	}
	if got, want := hosts[0].Block[1].Name, "fallthrough"; got != want {
		t.Errorf("hosts block: got %q, want %q", got, want)
	}
	pug := cf.Servers[1]
	if got, want := pug.Plugin("forward")[0].Args, []string{".", "192.11.0.1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("puglife forward: got %v, want %v", got, want)
	}
	if got, want := pug.Plugin("forward")[0].Where(), "kube-system/coredns-custom:puglife.server:4"; got != want {
		t.Errorf("puglife forward where: got %q, want %q", got, want)
	}
	rw := cf.Servers[2].Plugin("rewrite")[0]
	if got, want := len(rw.Block), 2; got != want {
		t.Errorf("rewrite block: got %d, want %d", got, want)
	}
}

func TestParseNodeLocalDNS(t *testing.T) {
	cf, err := Parse("kube-system/node-local-dns:Corefile", read(t, "nodelocaldns-upstream.Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cf.Servers), 4; got != want {
		t.Fatalf("servers: got %d, want %d", got, want)
	}
	first := cf.Servers[0]
	if got, want := first.Zones(), []string{"__PILLAR__DNS__DOMAIN__"}; !reflect.DeepEqual(got, want) {
		t.Errorf("zones: got %v, want %v", got, want)
	}
	cache := first.Plugin("cache")[0]
	if got, want := cache.Sub("success")[0].Args, []string{"9984", "30"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cache success: got %v, want %v", got, want)
	}
	fwd := first.Plugin("forward")[0]
	if got, want := fwd.Block[0].Name, "force_tcp"; got != want {
		t.Errorf("forward block: got %q, want %q", got, want)
	}
	if got, want := cf.Servers[3].Plugin("bind")[0].Line, 43; got != want {
		t.Errorf("bind line: got %d, want %d", got, want)
	}
}

func TestParseSeed(t *testing.T) {
	cf, err := Parse("kube-system/node-local-dns:Corefile", read(t, "seed001-xks.Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Servers[0].Plugin("cache")[0]
	if got, want := c.Sub("prefetch")[0].Args, []string{"20", "60s", "15%"}; !reflect.DeepEqual(got, want) {
		t.Errorf("prefetch: got %v, want %v", got, want)
	}
	if got, want := cf.Servers[0].Plugin("bind")[0].Args, []string{"169.254.20.10", "10.0.0.10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("bind: got %v, want %v", got, want)
	}
}

func TestParseSnippet(t *testing.T) {
	text := "(common) {\n  errors\n  cache 30\n}\n.:53 {\n  import common\n  forward . 1.1.1.1\n}\n"
	cf, err := Parse("x:Corefile", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cf.Imports), 0; got != want {
		t.Errorf("file imports: got %d, want %d", got, want)
	}
	if !cf.Servers[0].Has("cache") || !cf.Servers[0].Has("forward") {
		t.Errorf("snippet not expanded: %+v", cf.Servers[0].Plugins)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		coredns  string
		custom   map[string]string
		wantSrc  string
		wantLine int
	}{
		{
			name:     "unclosed block in Corefile",
			coredns:  ".:53 {\n    errors\n    cache {\n        success 9984 30\n",
			wantSrc:  "kube-system/coredns:Corefile",
			wantLine: 4,
		},
		{
			name:     "stray closing brace in a server key",
			coredns:  string(read(t, "aks-default.Corefile")),
			custom:   map[string]string{"bad.server": "example.com:53 {\n    errors\n    forward . 10.1.1.1 }\n}\n}\n"},
			wantSrc:  "kube-system/coredns-custom:bad.server",
			wantLine: 3,
		},
		{
			name:     "unbalanced block in an override key",
			coredns:  string(read(t, "aks-default.Corefile")),
			custom:   map[string]string{"a.override": "log\nhosts {\n  10.0.0.1 a.example\n"},
			wantSrc:  "kube-system/coredns-custom:a.override",
			wantLine: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAKS("kube-system", map[string]string{"Corefile": tt.coredns}, tt.custom)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got error %v, want a *ParseError", err)
			}
			if pe.Source != tt.wantSrc || pe.Line != tt.wantLine {
				t.Errorf("got %s line %d (%v), want %s line %d", pe.Source, pe.Line, err, tt.wantSrc, tt.wantLine)
			}
		})
	}
	if _, err := ParseAKS("kube-system", map[string]string{}, nil); !errors.Is(err, ErrNoCorefile) {
		t.Errorf("no Corefile: got %v, want ErrNoCorefile", err)
	}
}
