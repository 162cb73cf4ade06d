package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/miekg/dns"

	"github.com/netdoctor/netdoctor/internal/lab/nsnet"
)

// Dialer returns a dialer that connects from target's network namespace
// (a node, namespace/pod, or a fixed host; see Resolve).
func (l *Lab) Dialer(ctx context.Context, target string) (*nsnet.Dialer, error) {
	t, err := l.Resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	return &nsnet.Dialer{NSPath: nsnet.Path(t.NetNS), Dialer: net.Dialer{Timeout: 5 * time.Second}}, nil
}

// HTTPGet fetches url from target's namespace and returns the status code
// and body (at most 1 MiB). Timeout bounds the whole request.
func (l *Lab) HTTPGet(ctx context.Context, target, url string, timeout time.Duration) (int, string, error) {
	d, err := l.Dialer(ctx, target)
	if err != nil {
		return 0, "", err
	}
	d.Dialer.Timeout = timeout
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true, Proxy: nil}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", fmt.Errorf("build request: %w", err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("get %s from %s: %w", url, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// DNSQuery sends one query for name/qtype to server (ip or ip:port) from
// target's namespace, over UDP or TCP, and returns the answer. A timeout
// comes back as an error.
func (l *Lab) DNSQuery(ctx context.Context, target, server, name string, qtype uint16, tcp bool, timeout time.Duration) (*dns.Msg, error) {
	t, err := l.Resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: timeout}
	if tcp {
		c.Net = "tcp"
	}
	var in *dns.Msg
	err = nsnet.Do(nsnet.Path(t.NetNS), func() error {
		// The socket is made (and bound to the namespace) inside Exchange.
		var err error
		in, _, err = c.ExchangeContext(ctx, m, server)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query %s %s at %s from %s: %w", name, dns.TypeToString[qtype], server, target, err)
	}
	return in, nil
}
