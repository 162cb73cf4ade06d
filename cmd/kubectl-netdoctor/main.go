// Command kubectl-netdoctor is netdoctor installed as the kubectl plugin
// "kubectl netdoctor": the same commands under the plugin name.
package main

import (
	"os"

	"github.com/netdoctor/netdoctor/internal/cli"
)

func main() { os.Exit(cli.Main("kubectl-netdoctor")) }
