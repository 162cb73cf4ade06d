// Command netdoctor diagnoses Kubernetes networking problems. Installed as
// kubectl-netdoctor on the PATH it is also the kubectl plugin
// "kubectl netdoctor".
package main

import (
	"os"

	"github.com/netdoctor/netdoctor/internal/cli"
)

func main() { os.Exit(cli.Main("netdoctor")) }
