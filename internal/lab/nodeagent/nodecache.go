package nodeagent

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeLocalInterface is the interface node-cache creates for its addresses.
// node-cache makes a dummy link; this kernel has none, so the lab makes a veth
// of the same name (its peer is NodeLocalPeer).
const (
	NodeLocalInterface = "nodelocaldns"
	NodeLocalPeer      = "ndl-nldpeer"
)

// nodeCacheRules are the iptables rules node-cache installs for each local
// address (k8s.io/dns cmd/node-cache/app/cache_app.go initIptables), for port
// 53 and the health port.
func nodeCacheRules(localIP, port, healthPort string) [][]string {
	return [][]string{
		{"-t", "raw", "PREROUTING", "-p", "tcp", "-d", localIP, "--dport", port, "-j", "NOTRACK"},
		{"-t", "raw", "PREROUTING", "-p", "udp", "-d", localIP, "--dport", port, "-j", "NOTRACK"},
		{"-t", "filter", "INPUT", "-p", "tcp", "-d", localIP, "--dport", port, "-j", "ACCEPT"},
		{"-t", "filter", "INPUT", "-p", "udp", "-d", localIP, "--dport", port, "-j", "ACCEPT"},
		{"-t", "raw", "OUTPUT", "-p", "tcp", "-s", localIP, "--sport", port, "-j", "NOTRACK"},
		{"-t", "raw", "OUTPUT", "-p", "udp", "-s", localIP, "--sport", port, "-j", "NOTRACK"},
		{"-t", "filter", "OUTPUT", "-p", "tcp", "-s", localIP, "--sport", port, "-j", "ACCEPT"},
		{"-t", "filter", "OUTPUT", "-p", "udp", "-s", localIP, "--sport", port, "-j", "ACCEPT"},
		{"-t", "raw", "OUTPUT", "-p", "tcp", "-d", localIP, "--dport", port, "-j", "NOTRACK"},
		{"-t", "raw", "OUTPUT", "-p", "udp", "-d", localIP, "--dport", port, "-j", "NOTRACK"},
		{"-t", "raw", "OUTPUT", "-p", "tcp", "-d", localIP, "--dport", healthPort, "-j", "NOTRACK"},
		{"-t", "raw", "OUTPUT", "-p", "tcp", "-s", localIP, "--sport", healthPort, "-j", "NOTRACK"},
	}
}

// prepareNodeCache does what the node-cache binary does before it runs its
// embedded CoreDNS: read the Corefile template (the node-local-dns ConfigMap,
// mounted as Corefile.base), substitute __PILLAR__CLUSTER__DNS__ with the
// upstream Service's ClusterIP and __PILLAR__UPSTREAM__SERVERS__ with
// /etc/resolv.conf, bind the local addresses to an interface, and install the
// NOTRACK/ACCEPT rules. It returns the CoreDNS command line and a teardown.
func (a *Agent) prepareNodeCache(pr *podRun, c corev1.Container, vols map[string]string) ([]string, func(), error) {
	fs := flag.NewFlagSet("node-cache", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	localIP := fs.String("localip", "169.254.20.10", "")
	conf := fs.String("conf", "/etc/Corefile", "")
	basePath := fs.String("basecorefile", "/etc/coredns/Corefile.base", "")
	upstreamSvc := fs.String("upstreamsvc", "kube-dns", "")
	health := fs.String("health-port", "8080", "")
	_ = fs.Bool("setupinterface", true, "")
	_ = fs.Bool("setupiptables", true, "")
	_ = fs.Bool("skipteardown", false, "")
	_ = fs.String("interfacename", NodeLocalInterface, "")
	_ = fs.String("metrics-listen-address", "", "")
	_ = fs.String("kubednscm", "", "")
	_ = fs.String("pidfile", "", "")
	_ = fs.Duration("syncinterval", 0, "")
	args := c.Args
	if len(c.Command) > 1 {
		args = append(append([]string{}, c.Command[1:]...), args...)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, fmt.Errorf("node-cache args: %w", err)
	}
	_ = conf
	hostBase := ""
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(*basePath, strings.TrimSuffix(m.MountPath, "/")+"/") {
			if src, ok := vols[m.Name]; ok {
				hostBase = filepath.Join(src, strings.TrimPrefix(*basePath, strings.TrimSuffix(m.MountPath, "/")+"/"))
			}
		}
	}
	if hostBase == "" {
		return nil, nil, fmt.Errorf("node-cache: no volume holds %s", *basePath)
	}
	tmpl, err := os.ReadFile(hostBase)
	if err != nil {
		return nil, nil, fmt.Errorf("node-cache: read template: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svc, err := a.client.CoreV1().Services(pr.ns).Get(ctx, *upstreamSvc, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("node-cache: upstream service %s: %w", *upstreamSvc, err)
	}
	corefile := strings.ReplaceAll(string(tmpl), "__PILLAR__CLUSTER__DNS__", svc.Spec.ClusterIP)
	corefile = strings.ReplaceAll(corefile, "__PILLAR__UPSTREAM__SERVERS__", "/etc/resolv.conf")
	out := filepath.Join(pr.dir, "Corefile")
	if err := os.WriteFile(out, []byte(corefile), 0o644); err != nil {
		return nil, nil, fmt.Errorf("node-cache: write corefile: %w", err)
	}
	ips := strings.Split(*localIP, ",")
	_ = run(ctx, "ip", "link", "add", NodeLocalInterface, "type", "veth", "peer", "name", NodeLocalPeer)
	_ = run(ctx, "ip", "link", "set", NodeLocalPeer, "up")
	if err := run(ctx, "ip", "link", "set", NodeLocalInterface, "up"); err != nil {
		return nil, nil, fmt.Errorf("node-cache: %w", err)
	}
	var rules [][]string
	for _, ip := range ips {
		_ = run(ctx, "ip", "addr", "add", ip+"/32", "dev", NodeLocalInterface)
		rules = append(rules, nodeCacheRules(ip, "53", *health)...)
	}
	for _, r := range rules {
		// node-cache prepends (utiliptables.Prepend).
		args := append([]string{"-w", r[0], r[1], "-I", r[2]}, r[3:]...)
		if err := run(ctx, "iptables", args...); err != nil {
			return nil, nil, fmt.Errorf("node-cache: %w", err)
		}
	}
	teardown := func() {
		tctx, tcancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer tcancel()
		for _, r := range rules {
			args := append([]string{"-w", r[0], r[1], "-D", r[2]}, r[3:]...)
			_ = run(tctx, "iptables", args...)
		}
		_ = run(tctx, "ip", "link", "del", NodeLocalInterface)
	}
	return []string{filepath.Join(a.cfg.BinDir, "coredns"), "-conf", out}, teardown, nil
}
