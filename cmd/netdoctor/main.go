// Command netdoctor diagnoses Kubernetes networking problems. Installed as
// kubectl-netdoctor on the PATH it is also the kubectl plugin
// "kubectl netdoctor".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	name := "netdoctor"
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-netdoctor") {
		name = "kubectl-netdoctor"
	}
	cmd := cli.NewRootCommand(name, genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil && !cli.IsFindings(err) {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", name, err)
	}
	os.Exit(cli.ExitCode(err))
}
