package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/lab/nsnet"
)

// startServers opens, inside the pod's namespace, a listener per container
// port: TCP ports answer HTTP requests (with the pod's identity) and echo any
// other bytes; UDP ports echo datagrams. The sockets live in the agent.
func (a *Agent) startServers(pr *podRun, pod *corev1.Pod, c corev1.Container) ([]io.Closer, error) {
	ident := fmt.Sprintf("pod=%s/%s node=%s ip=%s\n", pod.Namespace, pod.Name, a.cfg.NodeName, pr.ip)
	var closers []io.Closer
	for _, p := range c.Ports {
		addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(int(p.ContainerPort)))
		if p.Protocol == corev1.ProtocolUDP {
			pc, err := nsnet.ListenPacket(nsnet.Path(pr.netns), "udp4", addr)
			if err != nil {
				return closers, fmt.Errorf("listen udp %s: %w", addr, err)
			}
			closers = append(closers, pc)
			go udpEcho(pc)
			continue
		}
		l, err := nsnet.Listen(nsnet.Path(pr.netns), "tcp4", addr)
		if err != nil {
			return closers, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		closers = append(closers, l)
		go serveTCP(l, ident)
	}
	return closers, nil
}

func udpEcho(pc net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

var httpMethods = []string{"GET ", "HEAD", "POST", "PUT ", "DELE", "OPTI", "PATC"}

// serveTCP answers HTTP with ident, or echoes.
func serveTCP(l net.Listener, ident string) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
			br := bufio.NewReader(conn)
			head, err := br.Peek(4)
			if err != nil && len(head) == 0 {
				return
			}
			isHTTP := false
			for _, m := range httpMethods {
				if string(head) == m {
					isHTTP = true
				}
			}
			if !isHTTP {
				_, _ = io.Copy(conn, br)
				return
			}
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				resp := &http.Response{
					StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
					Header:        http.Header{"Content-Type": {"text/plain"}},
					ContentLength: int64(len(ident)),
					Body:          io.NopCloser(strings.NewReader(ident)),
					Close:         req.Close,
				}
				if err := resp.Write(conn); err != nil || req.Close {
					return
				}
			}
		}()
	}
}

// runLoad is the bounded load generator of image "ndlab-load": it opens
// CONNECTIONS (max 256) TCP connections to TARGET from the pod and holds them
// for HOLD seconds (max 1800) or until the pod stops.
func (a *Agent) runLoad(pr *podRun, pod *corev1.Pod, c corev1.Container, cr *ctrRun) {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	target := env["TARGET"]
	n, _ := strconv.Atoi(env["CONNECTIONS"])
	if n <= 0 {
		n = 32
	}
	n = min(n, 256)
	hold, _ := strconv.Atoi(env["HOLD"])
	if hold <= 0 {
		hold = 300
	}
	hold = min(hold, 1800)
	logf, err := os.OpenFile(cr.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer logf.Close()
	d := &nsnet.Dialer{NSPath: nsnet.Path(pr.netns), Dialer: net.Dialer{Timeout: 3 * time.Second}}
	var mu sync.Mutex
	var conns []net.Conn
	ok, failed := 0, 0
	for i := 0; i < n && pr.ctx.Err() == nil; i++ {
		conn, err := d.DialContext(pr.ctx, "tcp4", target)
		if err != nil {
			failed++
			fmt.Fprintf(logf, "connection %d to %s: %v\n", i+1, target, err)
			continue
		}
		ok++
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
	}
	fmt.Fprintf(logf, "holding %d connections to %s for %ds (%d failed)\n", ok, target, hold, failed)
	ctx, cancel := context.WithTimeout(pr.ctx, time.Duration(hold)*time.Second)
	defer cancel()
	<-ctx.Done()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(logf, "released %d connections\n", ok)
	}
}

// probeLoop runs readiness probes (httpGet and tcpSocket) from the node, the
// way the kubelet does, and flips container readiness. Containers without a
// readiness probe are ready once running.
func (a *Agent) probeLoop(pr *podRun, pod *corev1.Pod) {
	interval := time.Second
	for i := 0; ; i++ {
		changed := false
		for ci, c := range pod.Spec.Containers {
			pr.mu.Lock()
			if ci >= len(pr.containers) {
				pr.mu.Unlock()
				continue
			}
			cr := pr.containers[ci]
			running := cr.running
			was := cr.ready
			pr.mu.Unlock()
			ready := running && (c.ReadinessProbe == nil || a.probe(pr, c, c.ReadinessProbe))
			pr.mu.Lock()
			if cr.running && cr.ready != ready {
				cr.ready = ready
				changed = true
			} else if !cr.running && was {
				cr.ready = false
				changed = true
			}
			pr.mu.Unlock()
		}
		if changed {
			a.updateStatus(pr)
		}
		if i > 10 {
			interval = 3 * time.Second
		}
		if !sleepCtx(pr.ctx, interval) {
			return
		}
	}
}

func portOf(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

func (a *Agent) probe(pr *podRun, c corev1.Container, p *corev1.Probe) bool {
	ip := pr.ip.String()
	timeout := 2 * time.Second
	// The kubelet probes from the node's namespace; so does the agent.
	d := net.Dialer{Timeout: timeout}
	switch {
	case p.HTTPGet != nil:
		host := p.HTTPGet.Host
		if host == "" {
			host = ip
		}
		port := portOf(c, p.HTTPGet.Port)
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		resp, err := cl.Get(fmt.Sprintf("http://%s%s", net.JoinHostPort(host, strconv.Itoa(port)), p.HTTPGet.Path))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case p.TCPSocket != nil:
		conn, err := d.Dial("tcp4", net.JoinHostPort(ip, strconv.Itoa(portOf(c, p.TCPSocket.Port))))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	return true
}
