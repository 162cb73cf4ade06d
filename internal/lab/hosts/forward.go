package hosts

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/lab/nsnet"
)

// Forward accepts connections on listen (a loopback address of the current
// namespace) and relays each to target dialled from inside the namespace at
// nsPath. The machine's namespace thereby reaches the lab's API server without
// any lab address or route of its own.
func Forward(ctx context.Context, listen, nsPath, target string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	go func() { <-ctx.Done(); l.Close() }()
	d := &nsnet.Dialer{NSPath: nsPath, Dialer: net.Dialer{Timeout: 5 * time.Second}}
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			defer c.Close()
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			up, err := d.DialContext(dctx, "tcp", target)
			cancel()
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); closeWrite(up) }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); closeWrite(c) }()
			wg.Wait()
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
