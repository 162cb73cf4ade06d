package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Up brings up a lab as cfg says and returns when every node is Ready and
// DNS (CoreDNS behind kube-dns, and NodeLocal DNS when on) serves. It fails
// if a lab is already up; on failure it removes what it made.
func Up(ctx context.Context, cfg Config) (l *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the lab needs root (network namespaces, iptables)")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(statePath(cfg.RunDir)); err == nil {
		if old, lerr := Load(cfg.RunDir); lerr == nil && len(old.AliveProcs()) > 0 {
			return nil, fmt.Errorf("a lab is already up (state in %s): run ndlab down first", cfg.RunDir)
		}
		// Every process of that lab is gone (a reboot of the session, a
		// kill): what is left is debris.
		cfg.Logf("removing a dead lab in %s", cfg.RunDir)
		if err := Sweep(ctx, cfg.RunDir); err != nil {
			return nil, fmt.Errorf("sweep dead lab: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", cfg.RunDir, err)
	}
	if err := os.WriteFile(filepath.Join(cfg.RunDir, "prefix"), []byte(PrefixFor(cfg.Name)), 0o644); err != nil {
		return nil, fmt.Errorf("write prefix: %w", err)
	}
	if left := Inspect(cfg.RunDir); len(left.Namespaces)+len(left.PIDs) > 0 {
		if len(left.PIDs) > 0 {
			return nil, fmt.Errorf("namespaces %s* are in use by processes %v of a lab not recorded in %s (another run dir?): take that lab down, or use another --name", PrefixFor(cfg.Name), left.PIDs, cfg.RunDir)
		}
		cfg.Logf("sweeping leftovers of an earlier lab: %s", left)
		if err := Sweep(ctx, cfg.RunDir); err != nil {
			return nil, fmt.Errorf("sweep leftovers: %w", err)
		}
	}
	start := time.Now()
	l = &Lab{run: ExecRunner{}, logf: cfg.Logf}
	l.state = State{Config: cfg, Prefix: PrefixFor(cfg.Name), Faults: map[string]FaultState{}, Created: time.Now()}
	defer func() {
		if err != nil && cfg.KeepOnFailure {
			l.logf("up failed, lab kept for debugging (ndlab down removes it): %v", err)
			return
		}
		if err != nil {
			l.logf("up failed, removing the lab: %v", err)
			_ = Sweep(context.Background(), cfg.RunDir)
		}
	}()
	for i := 0; i < cfg.Nodes; i++ {
		l.state.Nodes = append(l.state.Nodes, Node{Name: nodeName(i), Index: i, NetNS: l.nsName(fmt.Sprintf("n%d", i)), IP: nodeIP(i),
			PodCIDR: podCIDR(i, cfg.Network), SNATPorts: snatRange(i)})
	}
	if err := l.prepareFiles(); err != nil {
		return l, err
	}
	if err := l.save(); err != nil {
		return l, err
	}
	l.logf("network")
	if err := l.buildNetwork(ctx); err != nil {
		return l, err
	}
	l.logf("control plane")
	if err := l.startControlPlane(ctx); err != nil {
		return l, err
	}
	if err := l.save(); err != nil {
		return l, err
	}
	l.logf("nodes and outside hosts")
	if err := l.startNodesAndHosts(); err != nil {
		return l, err
	}
	if err := l.save(); err != nil {
		return l, err
	}
	l.logf("cluster add-ons")
	if err := l.applyAddons(ctx); err != nil {
		return l, err
	}
	if err := l.writeAzure(); err != nil {
		return l, err
	}
	l.logf("waiting for nodes and DNS")
	if err := l.WaitHealthy(ctx, 3*time.Minute); err != nil {
		return l, err
	}
	l.state.Ready = true
	if err := l.save(); err != nil {
		return l, err
	}
	l.logf("lab up in %s", time.Since(start).Round(100*time.Millisecond))
	return l, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}

func (l *Lab) binDir() string { return filepath.Join(l.state.Config.RunDir, "bin") }

// prepareFiles makes the run directory: binaries, certificates, kubeconfigs.
func (l *Lab) prepareFiles() error {
	c := l.state.Config
	for _, d := range []string{c.RunDir, l.binDir(), filepath.Join(c.RunDir, "logs"), filepath.Join(c.RunDir, "azure")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := os.WriteFile(filepath.Join(c.RunDir, "prefix"), []byte(l.prefix()), 0o644); err != nil {
		return fmt.Errorf("write prefix: %w", err)
	}
	if err := copyFile(c.Ndlab, filepath.Join(l.binDir(), "ndlab"), 0o755); err != nil {
		return err
	}
	// Node agents run as "kubelet" so tools that look for the kubelet's
	// process (and its --cluster-dns) find it.
	if err := os.Symlink("ndlab", filepath.Join(l.binDir(), "kubelet")); err != nil {
		return fmt.Errorf("link kubelet: %w", err)
	}
	// The pinned binaries are linked (or copied) so pods and processes use
	// one directory that lives as long as the lab.
	for _, b := range binaries {
		dst := filepath.Join(l.binDir(), b)
		if err := os.Symlink(filepath.Join(c.BinDir, b), dst); err != nil {
			return fmt.Errorf("link %s: %w", b, err)
		}
	}
	if c.Netdoctor != "" {
		if err := copyFile(c.Netdoctor, filepath.Join(l.binDir(), "netdoctor"), 0o755); err != nil {
			return err
		}
	}
	if err := buildResolvers(l.binDir()); err != nil {
		l.logf("resolver clients not built: %v", err)
	}
	pki := filepath.Join(c.RunDir, "pki")
	sans := []string{"127.0.0.1", KubernetesIP, APIServerIP, "localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain}
	if err := writePKI(pki, sans); err != nil {
		return err
	}
	l.state.Kubeconfig = filepath.Join(c.RunDir, "kubeconfig")
	l.state.InternalKubeconfig = filepath.Join(c.RunDir, "kubeconfig-internal")
	l.state.APIServer = "https://127.0.0.1:" + strconv.Itoa(c.APIPort)
	l.state.AzureDir = filepath.Join(c.RunDir, "azure")
	if err := writeKubeconfig(l.state.Kubeconfig, pki, l.state.APIServer); err != nil {
		return err
	}
	return writeKubeconfig(l.state.InternalKubeconfig, pki, "https://"+APIServerIP+":"+strconv.Itoa(APIServerPort))
}

// resolveC is the small getaddrinfo client built with musl and glibc.
//
//go:embed csrc/resolve.c
var resolveC []byte

// buildResolvers compiles resolve.c into resolve-musl (static, musl-gcc from
// Debian's musl-tools) and resolve-glibc (gcc) in dir.
func buildResolvers(dir string) error {
	src := filepath.Join(dir, "resolve.c")
	if err := os.WriteFile(src, resolveC, 0o644); err != nil {
		return fmt.Errorf("write resolve.c: %w", err)
	}
	var errs []error
	for _, b := range []struct {
		cc, out string
		args    []string
	}{
		{"musl-gcc", "resolve-musl", []string{"-static"}},
		{"gcc", "resolve-glibc", nil},
	} {
		args := append(append([]string{}, b.args...), "-O2", "-o", filepath.Join(dir, b.out), src)
		if out, err := exec.Command(b.cc, args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: %s", b.cc, err, out))
		}
	}
	return errors.Join(errs...)
}

// Bin is the path of a program in the lab's bin directory: resolve-musl,
// resolve-glibc, netdoctor, ndlab, coredns...
func (l *Lab) Bin(name string) string { return filepath.Join(l.binDir(), name) }

// InstallNetdoctor copies a netdoctor binary into the lab, where pods whose
// image names netdoctor run it from then on.
func (l *Lab) InstallNetdoctor(path string) error {
	return copyFile(path, filepath.Join(l.binDir(), "netdoctor"), 0o755)
}

func (l *Lab) startControlPlane(ctx context.Context) error {
	c := l.state.Config
	bin := func(b string) string { return filepath.Join(l.binDir(), b) }
	pki := func(f string) string { return filepath.Join(c.RunDir, "pki", f) }
	if _, err := l.spawn("etcd", l.nsName("cp"), []string{bin("etcd"),
		"--name=ndlab", "--data-dir=" + filepath.Join(c.RunDir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=ndlab=http://127.0.0.1:2380", "--unsafe-no-fsync=true",
		"--log-level=warn", "--quota-backend-bytes=2147483648",
	}); err != nil {
		return err
	}
	if _, err := l.spawn("kube-apiserver", l.nsName("cp"), []string{bin("kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--secure-port=" + strconv.Itoa(APIServerPort), "--advertise-address=" + APIServerIP,
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--client-ca-file=" + pki("ca.crt"),
		"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
		"--kubelet-client-certificate=" + pki("admin.crt"), "--kubelet-client-key=" + pki("admin.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc." + ClusterDomain,
		"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--enable-priority-and-fairness=false", "--profiling=false",
		"--cert-dir=" + filepath.Join(c.RunDir, "pki", "apiserver-generated"),
		"--endpoint-reconciler-type=lease", "--v=1",
	}); err != nil {
		return err
	}
	if _, err := l.spawn("apiserver-forward", "", []string{bin("ndlab"), "daemon", "forward",
		"--listen=127.0.0.1:" + strconv.Itoa(c.APIPort), "--netns=" + l.nsName("cp"),
		"--target=127.0.0.1:" + strconv.Itoa(APIServerPort)}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := l.waitAPIServer(wctx); err != nil {
		return err
	}
	if err := l.connect(); err != nil {
		return err
	}
	if _, err := l.spawn("kube-controller-manager", l.nsName("cp"), []string{bin("kube-controller-manager"),
		"--kubeconfig=" + l.state.InternalKubeconfig,
		"--authentication-kubeconfig=" + l.state.InternalKubeconfig,
		"--authorization-kubeconfig=" + l.state.InternalKubeconfig,
		"--bind-address=127.0.0.1", "--leader-elect=false",
		"--service-account-private-key-file=" + pki("sa.key"), "--root-ca-file=" + pki("ca.crt"),
		"--use-service-account-credentials=false",
		"--cluster-cidr=" + ClusterCIDR, "--service-cluster-ip-range=" + ServiceCIDR,
		"--allocate-node-cidrs=false", "--controllers=*",
		"--concurrent-endpoint-syncs=10", "--concurrent-service-endpoint-syncs=10",
		"--profiling=false", "--v=1",
	}); err != nil {
		return err
	}
	_, err := l.spawn("scheduler", l.nsName("cp"), []string{bin("ndlab"), "daemon", "scheduler",
		"--kubeconfig=" + l.state.InternalKubeconfig})
	return err
}

// waitAPIServer polls /readyz through the loopback forwarder.
func (l *Lab) waitAPIServer(ctx context.Context) error {
	ca, err := os.ReadFile(filepath.Join(l.state.Config.RunDir, "pki", "ca.crt"))
	if err != nil {
		return fmt.Errorf("read ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(filepath.Join(l.state.Config.RunDir, "pki", "admin.crt"), filepath.Join(l.state.Config.RunDir, "pki", "admin.key"))
	if err != nil {
		return fmt.Errorf("load admin cert: %w", err)
	}
	cl := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	return waitFor(ctx, "kube-apiserver /readyz", 300*time.Millisecond, func(ctx context.Context) (bool, error) {
		resp, err := cl.Get(l.state.APIServer + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Errorf("readyz: %s", resp.Status)
	})
}

func (l *Lab) startNodesAndHosts() error {
	c := l.state.Config
	ndlab := filepath.Join(l.binDir(), "ndlab")
	clusterCIDR := ClusterCIDR
	if c.Network == "azure-cni" {
		clusterCIDR = VNetCIDR // pods hold VNet addresses
	}
	for _, n := range l.state.Nodes {
		args := []string{filepath.Join(l.binDir(), "kubelet"), "daemon", "agent",
			"--node=" + n.Name, "--index=" + strconv.Itoa(n.Index), "--node-ip=" + n.IP, "--pod-cidr=" + n.PodCIDR,
			"--netns=" + n.NetNS, "--netns-prefix=" + l.prefix(), "--kubeconfig=" + l.state.InternalKubeconfig, "--run-dir=" + c.RunDir,
			"--bin-dir=" + l.binDir(), "--cluster-dns=" + ClusterDNSIP, "--cluster-domain=" + ClusterDomain,
			"--node-resolv-conf=" + filepath.Join(c.RunDir, "nodes", n.Name, "resolv.conf"),
			"--kubelet-version=" + KubernetesVersion,
		}
		if c.Network == "azure-cni" {
			args = append(args, "--register-pod-cidr=false")
		}
		if _, err := l.spawn("agent-"+strconv.Itoa(n.Index), n.NetNS, args); err != nil {
			return err
		}
		if _, err := l.spawn("kube-proxy-"+strconv.Itoa(n.Index), n.NetNS, []string{filepath.Join(l.binDir(), "kube-proxy"),
			"--kubeconfig=" + l.state.InternalKubeconfig, "--hostname-override=" + n.Name,
			"--proxy-mode=iptables", "--cluster-cidr=" + clusterCIDR,
			// Leave the machine-wide conntrack settings alone.
			"--conntrack-max-per-core=0", "--conntrack-min=0",
			"--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
			"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=0.0.0.0:10256",
			"--iptables-sync-period=30s", "--iptables-min-sync-period=1s", "--v=1",
		}); err != nil {
			return err
		}
	}
	if _, err := l.spawn("upstream-dns", l.nsName("upstream"), []string{ndlab, "daemon", "upstream",
		"--addr=" + UpstreamDNSIP + ":53", "--mode-file=" + filepath.Join(c.RunDir, "upstream-mode")}); err != nil {
		return err
	}
	if _, err := l.spawn("internet", l.nsName("inet"), []string{ndlab, "daemon", "internet",
		"--addr=" + WebIP, "--addr=" + RemoteIP}); err != nil {
		return err
	}
	_, err := l.spawn("nva", l.nsName("nva"), []string{ndlab, "daemon", "nva",
		"--addr=" + NVAIP + ":8080", "--status-file=" + filepath.Join(c.RunDir, "nva-status")})
	return err
}

// WaitHealthy waits until every node is Ready, the kube-dns EndpointSlices
// list every CoreDNS replica as ready, and (when on) a NodeLocal DNS pod runs
// on every node.
func (l *Lab) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := waitFor(ctx, "nodes Ready", 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		nodes, err := l.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == len(l.state.Nodes), fmt.Errorf("%d/%d nodes ready", ready, len(l.state.Nodes))
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-dns endpoints", 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		eps, err := l.KubeDNSEndpoints(ctx)
		if err != nil {
			return false, err
		}
		return len(eps) == CoreDNSReplicas, fmt.Errorf("%d/%d ready kube-dns endpoints", len(eps), CoreDNSReplicas)
	}); err != nil {
		return err
	}
	if l.state.Config.NoNodeLocalDNS {
		return nil
	}
	return waitFor(ctx, "node-local-dns pods", 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		pods, err := l.client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=node-local-dns"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == len(l.state.Nodes), fmt.Errorf("%d/%d node-local-dns pods ready", ready, len(l.state.Nodes))
	})
}

// Down stops the lab and removes everything it made. It works on a lab in
// any state, including one whose state file is gone.
func (l *Lab) Down(ctx context.Context) error {
	return Down(ctx, l.state.Config.RunDir)
}

// Down removes the lab recorded in runDir ("" for the default) and any
// leftovers of earlier labs.
func Down(ctx context.Context, runDir string) error {
	if runDir == "" {
		runDir = DefaultRunDir()
	}
	return Sweep(ctx, runDir)
}
