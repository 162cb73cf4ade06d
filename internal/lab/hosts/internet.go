package hosts

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// InternetConfig configures the internet hosts' servers.
type InternetConfig struct {
	// Addrs are the addresses to serve on (HTTP :80, TCP and UDP echo :7).
	Addrs []string
	// Logf prints log lines.
	Logf func(string, ...any)
}

// RunInternet serves HTTP on port 80 and TCP/UDP echo on port 7 of every
// address until ctx ends. ICMP echo is the kernel's.
func RunInternet(ctx context.Context, cfg InternetConfig) error {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, a := range cfg.Addrs {
		host := a
		l, err := net.Listen("tcp4", net.JoinHostPort(a, "80"))
		if err != nil {
			return fmt.Errorf("listen http %s: %w", a, err)
		}
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/status/") {
				if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/")); err == nil && code >= 200 && code < 600 {
					w.WriteHeader(code)
				}
			}
			fmt.Fprintf(w, "internet host %s: %s %s from %s\n", host, r.Method, r.URL.Path, r.RemoteAddr)
		})}
		go func() { _ = srv.Serve(l) }()
		closers = append(closers, srv)
		el, err := net.Listen("tcp4", net.JoinHostPort(a, "7"))
		if err != nil {
			return fmt.Errorf("listen echo %s: %w", a, err)
		}
		closers = append(closers, el)
		go func() {
			for {
				c, err := el.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
					_, _ = io.Copy(c, c)
				}()
			}
		}()
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(a, "7"))
		if err != nil {
			return fmt.Errorf("listen udp echo %s: %w", a, err)
		}
		closers = append(closers, pc)
		go func() {
			buf := make([]byte, 65535)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

// RunNVA serves the NVA's HTTP answerer on addr: every request gets the status
// code written in statusFile (403, 502 or 504; 504 is sent after a delay, as a
// proxy that timed out does). Absent file means 502.
func RunNVA(ctx context.Context, addr, statusFile string) error {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("listen nva %s: %w", addr, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := 502
		if b, err := os.ReadFile(statusFile); err == nil {
			if c, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				code = c
			}
		}
		if code == http.StatusGatewayTimeout {
			time.Sleep(2 * time.Second)
		}
		w.Header().Set("Server", "ndlab-nva")
		w.WriteHeader(code)
		fmt.Fprintf(w, "%d %s (ndlab NVA policy)\n", code, http.StatusText(code))
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("nva: %w", err)
	}
	return nil
}
