// Package corefile parses CoreDNS configuration (Corefiles) with the parser
// CoreDNS itself uses, github.com/coredns/caddy/caddyfile, into server blocks
// and plugin directives that analyzers can read.
//
// It knows how AKS composes CoreDNS's configuration: the coredns ConfigMap's
// Corefile imports custom/*.override inside the default server block and
// custom/*.server at the top level, both from the coredns-custom ConfigMap's
// keys. Imports are resolved against ConfigMap keys, never the filesystem.
package corefile

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/coredns/caddy/caddyfile"
)

// Directive is one plugin line (or a line inside a plugin's block).
type Directive struct {
	// Name is the plugin or sub-directive name, e.g. "forward", "prefetch".
	Name string `json:"name"`
	// Args are the arguments on the directive's line.
	Args []string `json:"args,omitempty"`
	// Source names where the directive was written, e.g.
	// "kube-system/coredns:Corefile".
	Source string `json:"source"`
	// Line is the 1-based line in Source.
	Line int `json:"line"`
	// Block holds the directive's { ... } lines, if any.
	Block []Directive `json:"block,omitempty"`
}

// Where renders "source:line".
func (d Directive) Where() string { return fmt.Sprintf("%s:%d", d.Source, d.Line) }

// String renders the directive's line as written (without its block).
func (d Directive) String() string {
	return strings.TrimSpace(d.Name + " " + strings.Join(d.Args, " "))
}

// Sub returns the sub-directives of the block with the given name.
func (d Directive) Sub(name string) []Directive {
	var out []Directive
	for _, s := range d.Block {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Server is one server block: the zones it serves and its plugins.
type Server struct {
	// Keys are the block's addresses as written, e.g. ".:53", "example.com".
	Keys []string `json:"keys"`
	// Source names where the block was written; Line is the line of its
	// first plugin.
	Source string `json:"source"`
	Line   int    `json:"line"`
	// Plugins are the block's directives in the order written; plugins
	// imported from *.override keys follow, each with its own Source.
	Plugins []Directive `json:"plugins"`
}

// Plugin returns every directive of the server with the given name.
func (s Server) Plugin(name string) []Directive {
	var out []Directive
	for _, p := range s.Plugins {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether the server has the plugin.
func (s Server) Has(name string) bool { return len(s.Plugin(name)) > 0 }

// Where renders "source:line".
func (s Server) Where() string { return fmt.Sprintf("%s:%d", s.Source, s.Line) }

// Zones returns the server's zones without ports or schemes ("." for the root).
func (s Server) Zones() []string {
	out := make([]string, 0, len(s.Keys))
	for _, k := range s.Keys {
		out = append(out, Zone(k))
	}
	return out
}

// Port returns the port of the server's first key, "53" when none is written.
func (s Server) Port() string {
	if len(s.Keys) == 0 {
		return "53"
	}
	k := strings.TrimPrefix(strings.TrimPrefix(s.Keys[0], "dns://"), "tls://")
	if i := strings.LastIndex(k, ":"); i >= 0 && !strings.Contains(k[i+1:], "]") {
		return k[i+1:]
	}
	return "53"
}

// Zone strips the scheme and port from a server key.
func Zone(key string) string {
	for _, scheme := range []string{"dns://", "tls://", "grpc://", "https://", "quic://"} {
		key = strings.TrimPrefix(key, scheme)
	}
	if i := strings.LastIndex(key, ":"); i >= 0 {
		key = key[:i]
	}
	if key == "" {
		return "."
	}
	return key
}

// Import is an import line that names files (not a snippet).
type Import struct {
	// Pattern is the glob as written, e.g. "custom/*.override".
	Pattern string `json:"pattern"`
	Source  string `json:"source"`
	Line    int    `json:"line"`
	// Server is the index of the enclosing server block, -1 at top level.
	Server int `json:"server"`
}

// Corefile is a parsed Corefile.
type Corefile struct {
	Servers []Server `json:"servers"`
	// Imports are the file imports, which Parse leaves unresolved and
	// ParseAKS resolves against coredns-custom's keys.
	Imports []Import `json:"imports,omitempty"`
}

// ParseError is a Corefile syntax error with its location.
type ParseError struct {
	// Source names the ConfigMap and key, e.g. "kube-system/coredns:Corefile".
	Source string
	// Line is the 1-based line in Source, 0 when unknown.
	Line int
	// Msg is the parser's message.
	Msg string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", e.Source, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Source, e.Msg)
}

// caddyErr matches caddyfile's "file:line - Error during parsing: msg" and
// "file:line - Syntax error: msg".
var caddyErr = regexp.MustCompile(`^(.*):(\d+) - (?:Error during parsing|Syntax error): (.*)$`)

func wrapErr(source string, lineOffset int, err error) error {
	m := caddyErr.FindStringSubmatch(err.Error())
	if m == nil || m[1] != source {
		return &ParseError{Source: source, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[2])
	line -= lineOffset
	if line < 1 {
		line = 1
	}
	return &ParseError{Source: source, Line: line, Msg: m[3]}
}

// Parse parses one Corefile. source names it in errors and directives
// (by convention "namespace/configmap:key"). File imports are recorded in
// Imports and not followed; snippet imports are expanded.
func Parse(source string, text []byte) (*Corefile, error) {
	blanked, imports := cutFileImports(source, text)
	blocks, err := caddyfile.Parse(source, bytes.NewReader(blanked), nil)
	if err != nil {
		return nil, wrapErr(source, 0, err)
	}
	cf := &Corefile{}
	for _, b := range blocks {
		srv, err := toServer(source, b, 0)
		if err != nil {
			return nil, err
		}
		cf.Servers = append(cf.Servers, srv)
	}
	// Attribute in-block imports to the server whose lines enclose them.
	for i := range imports {
		imports[i].Server = -1
		if !imports[i].inBlock {
			continue
		}
		best := -1
		for si, s := range cf.Servers {
			if s.Line <= imports[i].Line && (best < 0 || s.Line > cf.Servers[best].Line) {
				best = si
			}
		}
		imports[i].Server = best
	}
	for _, im := range imports {
		cf.Imports = append(cf.Imports, im.Import)
	}
	return cf, nil
}

// ParsePlugins parses a list of plugin lines (an AKS *.override key) as
// the body of a server block.
func ParsePlugins(source string, text []byte) ([]Directive, error) {
	if err := balanced(source, text); err != nil {
		return nil, err
	}
	// Open the block on line 1 so that line numbers stay those of text.
	wrapped := append([]byte(". { "), text...)
	wrapped = append(wrapped, []byte("\n}\n")...)
	blocks, err := caddyfile.Parse(source, bytes.NewReader(wrapped), nil)
	if err != nil {
		return nil, wrapErr(source, 0, err)
	}
	if len(blocks) != 1 {
		return nil, &ParseError{Source: source, Msg: "expected plugin lines, found a server block"}
	}
	srv, err := toServer(source, blocks[0], 0)
	if err != nil {
		return nil, err
	}
	return srv.Plugins, nil
}

// balanced checks that every { in text is closed, naming the line of the
// first unmatched brace.
func balanced(source string, text []byte) error {
	d := caddyfile.NewDispenser(source, bytes.NewReader(text))
	var open []int
	for d.Next() {
		switch d.Val() {
		case "{":
			open = append(open, d.Line())
		case "}":
			if len(open) == 0 {
				return &ParseError{Source: source, Line: d.Line(), Msg: "unexpected '}' because no matching opening brace"}
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return &ParseError{Source: source, Line: open[len(open)-1], Msg: "'{' is never closed"}
	}
	return nil
}

type rawImport struct {
	Import
	inBlock bool
}

// cutFileImports blanks every import line that names files rather than a
// snippet, keeping line numbers, and returns them.
func cutFileImports(source string, text []byte) ([]byte, []rawImport) {
	d := caddyfile.NewDispenser(source, bytes.NewReader(text))
	type tok struct {
		text string
		line int
	}
	var toks []tok
	for d.Next() {
		toks = append(toks, tok{d.Val(), d.Line()})
	}
	snippets := map[string]bool{}
	for i, t := range toks {
		newLine := i == 0 || toks[i-1].line < t.line
		if newLine && strings.HasPrefix(t.text, "(") && strings.HasSuffix(t.text, ")") {
			snippets[strings.TrimSuffix(t.text[1:], ")")] = true
		}
	}
	var out []rawImport
	cut := map[int]bool{}
	depth := 0
	for i, t := range toks {
		switch t.text {
		case "{":
			depth++
			continue
		case "}":
			depth--
			continue
		}
		newLine := i == 0 || toks[i-1].line < t.line
		if !newLine || t.text != "import" || i+1 >= len(toks) || toks[i+1].line != t.line {
			continue
		}
		pattern := toks[i+1].text
		if snippets[pattern] {
			continue
		}
		out = append(out, rawImport{Import: Import{Pattern: pattern, Source: source, Line: t.line}, inBlock: depth > 0})
		cut[t.line] = true
	}
	if len(cut) == 0 {
		return text, out
	}
	lines := bytes.Split(text, []byte("\n"))
	for i := range lines {
		if cut[i+1] {
			lines[i] = nil
		}
	}
	return bytes.Join(lines, []byte("\n")), out
}

func toServer(source string, b caddyfile.ServerBlock, lineOffset int) (Server, error) {
	srv := Server{Keys: b.Keys, Source: source}
	for _, toks := range b.Tokens {
		for i := 0; i < len(toks); {
			dir, next, err := readDirective(source, toks, i, lineOffset)
			if err != nil {
				return Server{}, err
			}
			srv.Plugins = append(srv.Plugins, dir)
			i = next
		}
	}
	sort.SliceStable(srv.Plugins, func(i, j int) bool { return srv.Plugins[i].Line < srv.Plugins[j].Line })
	if len(srv.Plugins) > 0 {
		srv.Line = srv.Plugins[0].Line
	}
	return srv, nil
}

// readDirective reads the directive starting at toks[i]: its arguments on
// the same line and, when the line opens a block, the block's lines
// (recursively). It returns the index after the directive.
func readDirective(source string, toks []caddyfile.Token, i, lineOffset int) (Directive, int, error) {
	start := toks[i]
	d := Directive{Name: start.Text, Source: source, Line: start.Line - lineOffset}
	i++
	for i < len(toks) && toks[i].Line == start.Line && toks[i].Text != "{" && toks[i].Text != "}" {
		d.Args = append(d.Args, toks[i].Text)
		i++
	}
	if i >= len(toks) || toks[i].Line != start.Line || toks[i].Text != "{" {
		return d, i, nil
	}
	i++
	for {
		if i >= len(toks) {
			return d, i, &ParseError{Source: source, Line: d.Line, Msg: fmt.Sprintf("block of %q is not closed", d.Name)}
		}
		if toks[i].Text == "}" {
			return d, i + 1, nil
		}
		sub, next, err := readDirective(source, toks, i, lineOffset)
		if err != nil {
			return d, next, err
		}
		d.Block = append(d.Block, sub)
		i = next
	}
}

// ErrNoCorefile is returned when the coredns ConfigMap has no Corefile key.
var ErrNoCorefile = errors.New("no Corefile key")

// ParseAKS composes CoreDNS's configuration the way AKS deploys it: the
// Corefile of the coredns ConfigMap (data key "Corefile"), with its imports
// resolved against the keys of the coredns-custom ConfigMap (mounted at
// custom/): keys matching an import inside a server block (custom/*.override)
// are plugin lines added to that block, and keys matching a top-level import
// (custom/*.server) are extra server blocks. Keys are taken in sorted order,
// as a glob returns files. custom may be nil. ns is the ConfigMaps'
// namespace, used in sources. When a coredns-custom key does not parse,
// ParseAKS returns what it could compose together with the errors.
func ParseAKS(ns string, coredns, custom map[string]string) (*Corefile, error) {
	text, ok := coredns["Corefile"]
	if !ok {
		return nil, fmt.Errorf("%s/coredns: %w", ns, ErrNoCorefile)
	}
	cf, err := Parse(ns+"/coredns:Corefile", []byte(text))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(custom))
	for k := range custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	var extra []Server
	for _, im := range cf.Imports {
		glob := path.Base(im.Pattern)
		for _, k := range keys {
			if ok, _ := path.Match(glob, k); !ok {
				continue
			}
			source := ns + "/coredns-custom:" + k
			if im.Server >= 0 {
				plugins, err := ParsePlugins(source, []byte(custom[k]))
				if err != nil {
					errs = append(errs, err)
					continue
				}
				cf.Servers[im.Server].Plugins = append(cf.Servers[im.Server].Plugins, plugins...)
				continue
			}
			sub, err := Parse(source, []byte(custom[k]))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			extra = append(extra, sub.Servers...)
		}
	}
	cf.Servers = append(cf.Servers, extra...)
	return cf, errors.Join(errs...)
}
