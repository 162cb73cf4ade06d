package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serveLogs serves the kubelet's container log endpoint
// (/containerLogs/{namespace}/{pod}/{container}) over HTTPS on
// NodeIP:10250, which the API server proxies `pods/log` requests to.
func (a *Agent) serveLogs(ctx context.Context) error {
	cert, err := selfSigned(a.cfg.NodeName, a.cfg.NodeIP.String())
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/containerLogs/", a.handleLogs)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := &http.Server{
		Addr:              net.JoinHostPort(a.cfg.NodeIP.String(), strconv.Itoa(KubeletPort)),
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServeTLS("", ""); err != nil && err != http.ErrServerClosed {
		return fmt.Errorf("kubelet endpoint: %w", err)
	}
	return nil
}

func (a *Agent) findContainer(ns, name, container string) (*podRun, *ctrRun) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, pr := range a.pods {
		if pr.ns != ns || pr.name != name {
			continue
		}
		pr.mu.Lock()
		defer pr.mu.Unlock()
		for _, c := range pr.containers {
			if c.name == container || (container == "" && len(pr.containers) == 1) {
				return pr, c
			}
		}
		return pr, nil
	}
	return nil, nil
}

func (a *Agent) handleLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.Error(w, "expected /containerLogs/{namespace}/{pod}/{container}", http.StatusBadRequest)
		return
	}
	pr, cr := a.findContainer(parts[0], parts[1], parts[2])
	if pr == nil || cr == nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q not found", parts[2], parts[1]), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	path := cr.logPath
	if q.Get("previous") == "true" {
		path += ".prev"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, fmt.Sprintf("read log: %v", err), http.StatusNotFound)
		return
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 {
		lines := bytes.SplitAfter(data, []byte("\n"))
		if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		data = bytes.Join(lines, nil)
	}
	if n, err := strconv.Atoi(q.Get("limitBytes")); err == nil && n >= 0 && len(data) > n {
		data = data[:n]
	}
	w.Header().Set("Content-Type", "text/plain")
	if q.Get("timestamps") == "true" {
		ts := time.Now().UTC().Format(time.RFC3339Nano)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var b bytes.Buffer
		for sc.Scan() {
			b.WriteString(ts + " " + sc.Text() + "\n")
		}
		data = b.Bytes()
	}
	_, _ = w.Write(data)
	if q.Get("follow") != "true" {
		return
	}
	// Follow: stream what is appended until the container stops.
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Seek(int64(len(data)), io.SeekStart)
	fl, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, _ := f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			continue
		}
		pr.mu.Lock()
		done := !cr.running || pr.stopped
		pr.mu.Unlock()
		if done {
			n, _ := f.Read(buf)
			_, _ = w.Write(buf[:n])
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// selfSigned makes the kubelet endpoint's serving certificate. The API server
// does not verify kubelet certificates unless --kubelet-certificate-authority
// is set, which the lab does not set.
func selfSigned(name, ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name + "@kubelet"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
