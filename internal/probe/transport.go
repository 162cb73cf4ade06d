package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// tcpOnce opens one TCP connection to target (host:port), optionally holds
// it to see whether it is reset, and closes it.
func (p *Prober) tcpOnce(ctx context.Context, s Spec) Observation {
	var o Observation
	host, port, _ := net.SplitHostPort(s.Target)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.Timeout)+time.Duration(s.Hold))
	defer cancel()
	ip, err := p.resolve(ctx, host)
	if err != nil {
		o.Outcome, o.Detail = Classify(err)
		if o.Outcome != Timeout {
			o.Outcome = DNSError
		}
		return o
	}
	o.Remote = net.JoinHostPort(ip, port)
	dctx, dcancel := context.WithTimeout(ctx, time.Duration(s.Timeout))
	defer dcancel()
	start := p.Now()
	var c net.Conn
	if ld, ok := p.Dialer.(LocalDialer); ok {
		c, o.Local, err = ld.DialTCPLocal(dctx, o.Remote)
	} else {
		c, err = p.Dialer.DialContext(dctx, "tcp", o.Remote)
	}
	o.RTTMillis = p.since(start)
	if err != nil {
		o.Outcome, o.Detail = Classify(err)
		return o
	}
	defer c.Close()
	o.Local = c.LocalAddr().String()
	o.Outcome = OK
	if s.Hold > 0 {
		_ = c.SetReadDeadline(p.Now().Add(time.Duration(s.Hold)))
		buf := make([]byte, 512)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
				break // held without a reset, or closed cleanly by the server
			}
			if out, detail := Classify(err); out == Reset {
				o.Outcome, o.Detail = Reset, detail+" after connect"
			}
			break
		}
	}
	return o
}

// udpOnce sends one datagram to target (host:port) on a connected socket and
// waits for a reply. A connected UDP socket reports an ICMP port
// unreachable as ECONNREFUSED on the next read.
func (p *Prober) udpOnce(ctx context.Context, s Spec) Observation {
	var o Observation
	host, port, _ := net.SplitHostPort(s.Target)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.Timeout))
	defer cancel()
	ip, err := p.resolve(ctx, host)
	if err != nil {
		o.Outcome, o.Detail = Classify(err)
		if o.Outcome != Timeout {
			o.Outcome = DNSError
		}
		return o
	}
	o.Remote = net.JoinHostPort(ip, port)
	start := p.Now()
	c, err := p.Dialer.DialContext(ctx, "udp", o.Remote)
	if err != nil {
		o.Outcome, o.Detail = Classify(err)
		return o
	}
	defer c.Close()
	o.Local = c.LocalAddr().String()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte(s.Payload)); err != nil {
		o.RTTMillis = p.since(start)
		o.Outcome, o.Detail = classifyUDP(err)
		return o
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	o.RTTMillis = p.since(start)
	if err != nil {
		o.Outcome, o.Detail = classifyUDP(err)
		return o
	}
	o.Outcome = OK
	o.Detail = ""
	if n == 0 {
		o.Detail = "empty reply"
	}
	return o
}

// classifyUDP renames the TCP-centred outcomes for a datagram probe.
func classifyUDP(err error) (Outcome, string) {
	out, detail := Classify(err)
	switch out {
	case Refused:
		return PortUnreachable, "ICMP port unreachable (nothing listens on that UDP port)"
	case Timeout:
		return Silence, "no reply before the timeout (the port may be open and quiet, or filtered)"
	}
	return out, detail
}
