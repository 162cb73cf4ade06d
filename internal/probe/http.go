package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// HTTPObservation is what an http probe saw of the response.
type HTTPObservation struct {
	// Status is the response status code; 0 when no response came.
	Status int `json:"status,omitempty"`
	// StatusText is the response's status line text.
	StatusText string `json:"statusText,omitempty"`
	// Phases are the timings of the request's phases.
	Phases Phases `json:"phases"`
	// FromGateway is true when the status is one a gateway or proxy gives
	// about the next hop (502, 504) or the response looks like a proxy's or
	// firewall's own page; ProxyHints say why.
	FromGateway bool `json:"fromGateway,omitempty"`
	// ProxyHints are the headers or page text that point at a proxy or
	// firewall, e.g. "header Via: 1.1 squid".
	ProxyHints []string `json:"proxyHints,omitempty"`
	// Server is the Server header.
	Server string `json:"server,omitempty"`
	// Meaning says what the status means for an outbound request.
	Meaning string `json:"meaning,omitempty"`
}

// Phases are an HTTP request's timings in milliseconds from its start; zero
// when the phase did not happen (no DNS for an IP literal, no TLS for http).
type Phases struct {
	DNSMillis       float64 `json:"dnsMillis,omitempty"`
	ConnectMillis   float64 `json:"connectMillis,omitempty"`
	TLSMillis       float64 `json:"tlsMillis,omitempty"`
	FirstByteMillis float64 `json:"firstByteMillis,omitempty"`
}

// maxBody bounds how much of a response body is read to look for a proxy's
// page.
const maxBody = 8 << 10

// httpOnce makes one request on a fresh connection (no keep-alive, no proxy
// from the environment, no redirects followed) and records the phases.
func (p *Prober) httpOnce(ctx context.Context, s Spec) Observation {
	var o Observation
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.Timeout))
	defer cancel()
	u, err := url.Parse(s.Target)
	if err != nil {
		o.Outcome, o.Detail = Error, fmt.Sprintf("parse url %q: %v", s.Target, err)
		return o
	}
	hobs := &HTTPObservation{}
	o.HTTP = hobs
	start := p.Now()

	// Resolve here, so the DNS phase is measured the same way whatever the
	// dialer, and the dialer only ever sees an IP address.
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	ip, err := p.resolve(ctx, host)
	if net.ParseIP(host) == nil {
		hobs.Phases.DNSMillis = p.since(start)
	}
	if err != nil {
		o.RTTMillis = p.since(start)
		o.Outcome, o.Detail = Classify(err)
		if o.Outcome != Timeout {
			o.Outcome = DNSError
		}
		return o
	}
	o.Remote = net.JoinHostPort(ip, port)

	var (
		mu    sync.Mutex
		local string
		ph    Phases
	)
	ph.DNSMillis = hobs.Phases.DNSMillis
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := p.Dialer.DialContext(ctx, network, o.Remote)
			mu.Lock()
			defer mu.Unlock()
			ph.ConnectMillis = p.since(start)
			if err == nil {
				local = c.LocalAddr().String()
			}
			return c, err
		},
		TLSClientConfig:     &tls.Config{ServerName: host},
		DisableKeepAlives:   true,
		ForceAttemptHTTP2:   false,
		TLSHandshakeTimeout: time.Duration(s.Timeout),
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	trace := &httptrace.ClientTrace{
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			mu.Lock()
			defer mu.Unlock()
			ph.TLSMillis = p.since(start)
		},
		GotFirstResponseByte: func() {
			mu.Lock()
			defer mu.Unlock()
			ph.FirstByteMillis = p.since(start)
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, s.Target, nil)
	if err != nil {
		o.Outcome, o.Detail = Error, fmt.Sprintf("build request: %v", err)
		return o
	}
	req.Header.Set("User-Agent", "netdoctor-probe")
	resp, err := client.Do(req)
	mu.Lock()
	o.Local = local
	hobs.Phases = ph
	mu.Unlock()
	if err != nil {
		o.RTTMillis = p.since(start)
		o.Outcome, o.Detail = Classify(err)
		return o
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	o.RTTMillis = p.since(start)
	hobs.Status = resp.StatusCode
	hobs.StatusText = http.StatusText(resp.StatusCode)
	hobs.Server = resp.Header.Get("Server")
	hobs.ProxyHints = ProxyHints(resp.Header, body)
	hobs.FromGateway = resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout ||
		resp.StatusCode == http.StatusProxyAuthRequired ||
		(resp.StatusCode >= 400 && len(hobs.ProxyHints) > 0)
	hobs.Meaning = StatusMeaning(resp.StatusCode, hobs.FromGateway)
	if resp.StatusCode >= 400 {
		o.Outcome = HTTPStatus
		o.Detail = fmt.Sprintf("HTTP %d %s", resp.StatusCode, hobs.StatusText)
		return o
	}
	o.Outcome = OK
	return o
}

// proxyHeaders are response headers that proxies, gateways and firewalls add.
var proxyHeaders = []string{"Via", "X-Squid-Error", "X-Cache", "X-Cache-Lookup", "Proxy-Agent", "Proxy-Connection", "X-Azure-Ref", "X-Msedge-Ref", "X-Envoy-Upstream-Service-Time", "X-Zscaler-Transaction-Id", "X-Bluecoat-Via", "X-Iinfo"}

// proxyServers are Server header values of proxies, gateways and firewalls.
var proxyServers = regexp.MustCompile(`(?i)squid|envoy|haproxy|azure firewall|application-gateway|microsoft-azure-application-gateway|zscaler|bluecoat|fortigate|fortiweb|palo alto|pan-os|cloudflare|akamai|varnish|ats/|traffic server|mitmproxy|tinyproxy|privoxy|istio|kong`)

// proxyPage matches the text of a proxy's or firewall's own error page.
var proxyPage = regexp.MustCompile(`(?i)azure firewall|action:\s*deny|no rule matched|request was denied by|blocked by (?:the )?(?:administrator|policy|firewall|proxy)|access denied by|web filter|url filtering|squid|zscaler|fortiguard|forcepoint|websense|bluecoat|proxy (?:error|authentication)|generated by .*proxy|the requested url could not be retrieved|firewall`)

// ProxyHints returns why a response looks like it came from a proxy, a
// gateway or a firewall rather than the server asked: its headers and the
// text of its page.
func ProxyHints(h http.Header, body []byte) []string {
	var hints []string
	for _, name := range proxyHeaders {
		if v := h.Get(name); v != "" {
			hints = append(hints, fmt.Sprintf("header %s: %s", name, truncate(v, 80)))
		}
	}
	if s := h.Get("Server"); s != "" && proxyServers.MatchString(s) {
		hints = append(hints, "header Server: "+truncate(s, 80))
	}
	if m := proxyPage.Find(body); m != nil {
		hints = append(hints, fmt.Sprintf("page text %q", truncate(string(m), 60)))
	}
	sort.Strings(hints)
	return hints
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// StatusMeaning says what an HTTP status means for an outbound request,
// following the field guide: 4xx means the request reached something that
// refused it (the server, or a proxy or firewall in the path), 5xx means
// the server failed, and 502/504 usually mean a gateway or proxy could not
// reach or wait for the next hop.
func StatusMeaning(status int, fromGateway bool) string {
	switch status {
	case http.StatusBadGateway:
		return "502 Bad Gateway: a gateway or proxy in the path (possibly your own egress firewall/NVA or an upstream proxy) got an invalid answer from the next hop or could not reach it"
	case http.StatusGatewayTimeout:
		return "504 Gateway Timeout: a gateway or proxy in the path (possibly your own egress firewall/NVA or an upstream proxy) gave up waiting for the next hop"
	case http.StatusProxyAuthRequired:
		return "407 Proxy Authentication Required: a proxy in the path wants credentials before it forwards the request"
	case http.StatusServiceUnavailable:
		return "503 Service Unavailable: the server (or the gateway in front of it) is overloaded or down for maintenance; the issue is on their side"
	case http.StatusInternalServerError:
		return "500 Internal Server Error: the server failed to handle a valid request; the issue is on their side"
	}
	switch {
	case status >= 400 && status < 500 && fromGateway:
		return fmt.Sprintf("%d %s from what looks like a proxy's or firewall's page: an application-aware device in the path refused the request (access policy, headers, or content)", status, http.StatusText(status))
	case status == http.StatusForbidden:
		return "403 Forbidden: the request arrived but was refused by access policy, at the server or at a proxy/application firewall in the path"
	case status == http.StatusUnauthorized:
		return "401 Unauthorized: the server wants credentials"
	case status == http.StatusNotFound:
		return "404 Not Found: the path works; the requested resource does not exist on the server (check the URL)"
	case status >= 400 && status < 500:
		return fmt.Sprintf("%d %s: the request arrived and was refused as a client error, by the server or by a proxy/application firewall in the path", status, http.StatusText(status))
	case status >= 500:
		return fmt.Sprintf("%d %s: the server failed to fulfil the request; the issue is on their side", status, http.StatusText(status))
	case status >= 300:
		return fmt.Sprintf("%d %s: a redirect (not followed)", status, http.StatusText(status))
	case status >= 200:
		return fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return ""
}
