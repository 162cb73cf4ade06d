// Command ndlab runs netdoctor's lab: a real Kubernetes control plane and
// dataplane in network namespaces of this machine, with faults to inject.
// See docs/lab.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		if ee, ok := err.(exitError); ok {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "ndlab:", err)
		os.Exit(1)
	}
}
