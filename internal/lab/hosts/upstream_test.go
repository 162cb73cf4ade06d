package hosts

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func startUpstream(t *testing.T, mode string) string {
	t.Helper()
	var (
		pc   net.PacketConn
		l    net.Listener
		addr string
	)
	// The UDP port the kernel picks may be taken for TCP: try another.
	for i := 0; l == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		if l, err = net.Listen("tcp", addr); err != nil {
			pc.Close()
			if i == 50 {
				t.Fatalf("no loopback port free for both UDP and TCP: %v", err)
			}
		}
	}
	modeFile := filepath.Join(t.TempDir(), "mode")
	if mode != "" {
		if err := os.WriteFile(modeFile, []byte(mode), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u := NewUpstream(UpstreamConfig{Records: DefaultRecords(), ModeFile: modeFile})
	udp := &dns.Server{PacketConn: pc, Handler: u}
	tcp := &dns.Server{Listener: l, Handler: u}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	time.Sleep(50 * time.Millisecond)
	return addr
}

func TestUpstreamAnswers(t *testing.T) {
	addr := startUpstream(t, "")
	tests := []struct {
		name      string
		qname     string
		net       string
		edns      uint16
		wantRcode int
		wantTC    bool
		wantN     int
	}{
		{"fixed name", "www.example.com.", "udp", 0, dns.RcodeSuccess, false, 1},
		{"dyn name", "abc.dyn.example.com.", "udp", 0, dns.RcodeSuccess, false, 1},
		{"unknown", "nope.example.com.", "udp", 0, dns.RcodeNameError, false, 0},
		{"big over udp without edns truncates with no records", "x.big.example.com.", "udp", 0, dns.RcodeSuccess, true, 0},
		{"big over udp with edns fits", "x.big.example.com.", "udp", 1232, dns.RcodeSuccess, false, BigCount},
		{"big over tcp", "x.big.example.com.", "tcp", 0, dns.RcodeSuccess, false, BigCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tt.qname, dns.TypeA)
			if tt.edns > 0 {
				m.SetEdns0(tt.edns, false)
			}
			c := &dns.Client{Net: tt.net, Timeout: 2 * time.Second}
			in, _, err := c.ExchangeContext(context.Background(), m, addr)
			if err != nil {
				t.Fatal(err)
			}
			if in.Rcode != tt.wantRcode || in.Truncated != tt.wantTC || len(in.Answer) != tt.wantN {
				t.Errorf("got rcode %d tc %v answers %d, want %d %v %d", in.Rcode, in.Truncated, len(in.Answer), tt.wantRcode, tt.wantTC, tt.wantN)
			}
		})
	}
}

func TestUpstreamLegacyModeIgnoresEDNS(t *testing.T) {
	addr := startUpstream(t, "legacy512")
	m := new(dns.Msg)
	m.SetQuestion("y.big.example.com.", dns.TypeA)
	m.SetEdns0(4096, false)
	in, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Truncated || len(in.Answer) != 0 {
		t.Errorf("got tc %v with %d answers, want TC and none", in.Truncated, len(in.Answer))
	}
}
