package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// defaultMemoryLimit is the soft memory limit netdoctor sets when
// GOMEMLIMIT does not: near it the garbage collector runs more often instead
// of letting the heap grow to twice what is live, which keeps diagnosing a
// 150,000-pod cluster under 1 GiB. It is soft: a larger cluster still fits,
// at the cost of collection time.
const defaultMemoryLimit = 800 << 20

// Main runs the command line and returns the process exit code. name is
// the program's name; a binary installed as kubectl-netdoctor is the kubectl
// plugin whatever name it was built with.
func Main(name string) int {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-netdoctor") {
		name = "kubectl-netdoctor"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := NewRootCommand(name, genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	err := cmd.ExecuteContext(ctx)
	if err != nil && !IsFindings(err) {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", name, err)
	}
	return ExitCode(err)
}
