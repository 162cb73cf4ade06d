// Package lab runs netdoctor's test cluster: a real Kubernetes control plane
// (etcd, kube-apiserver, kube-controller-manager) and dataplane (kube-proxy in
// iptables mode, CoreDNS, NodeLocal DNS) inside network namespaces of this
// machine, with a node agent standing in for the kubelet, an "Azure edge"
// (route table, NSG, outbound SNAT), an NVA, an upstream DNS server and
// "internet" hosts, plus faults from the field guides.
//
// Everything the lab creates is named with the "ndl-" prefix and recorded in
// a state file under the run directory, so Down (and Sweep, after a crash)
// removes every namespace, process and file. No address or route is ever
// added to the machine's own namespace: the API server is reached through a
// forwarder listening on 127.0.0.1.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Prefix starts the name of every namespace, link and state the lab creates.
const Prefix = "ndl-"

// Addresses of the lab. The service CIDR and DNS IP are AKS's defaults.
const (
	ServiceCIDR   = "10.0.0.0/16"
	KubernetesIP  = "10.0.0.1"
	ClusterDNSIP  = "10.0.0.10"
	ClusterCIDR   = "10.244.0.0/16"
	VNetCIDR      = "10.224.0.0/16"
	EdgeIP        = "10.224.0.1"
	APIServerIP   = "10.224.0.2"
	NodeLocalIP   = "169.254.20.10"
	UpstreamDNSIP = "192.0.2.53"
	// OutboundIP is the public address of the edge's outbound SNAT.
	OutboundIP = "203.0.113.10"
	// WebIP and RemoteIP are "internet" hosts (HTTP :80, echo :7, ICMP).
	WebIP    = "198.51.100.80"
	RemoteIP = "198.51.100.81"
	NVAIP    = "10.225.0.4"
	// ClusterDomain is the cluster's DNS domain.
	ClusterDomain = "cluster.local"
	// APIServerPort is the API server's port inside the lab.
	APIServerPort = 6443
	// KubernetesVersion is the pinned version of the control plane.
	KubernetesVersion = "v1.33.13"
)

// Namespaces of the lab's fixed hosts.
const (
	NSControlPlane = Prefix + "cp"
	NSEdge         = Prefix + "edge"
	NSInternet     = Prefix + "inet"
	NSUpstream     = Prefix + "upstream"
	NSNVA          = Prefix + "nva"
)

// Config says what lab to bring up.
type Config struct {
	// Name tells labs on one machine apart: "" is the default lab (namespaces
	// ndl-*, run dir /run/ndlab, API port 16443); another name NAME gets
	// namespaces ndlNAME-*, run dir /run/ndlab-NAME and its own API port.
	Name string `json:"name,omitempty"`
	// Nodes is the number of nodes (1-8, default 3).
	Nodes int `json:"nodes"`
	// NoNodeLocalDNS turns NodeLocal DNS off.
	NoNodeLocalDNS bool `json:"noNodeLocalDNS"`
	// Network is "kubenet" (default) or "azure-cni".
	Network string `json:"network"`
	// RunDir holds state, logs, certificates and pod files
	// (default $NDLAB_RUN or /run/ndlab).
	RunDir string `json:"runDir"`
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-proxy
	// and coredns (default $NDLAB_BIN, else the newest complete
	// ${NDLAB_CACHE:-/var/cache/ndlab}/bin-*).
	BinDir string `json:"binDir"`
	// Ndlab is the ndlab binary whose hidden daemon commands run the lab's
	// own servers (default: this executable when it is ndlab). It is copied
	// into the run directory.
	Ndlab string `json:"ndlab"`
	// Netdoctor, when set, is copied into the run directory and run by pods
	// whose image names netdoctor. InstallNetdoctor can set it later.
	Netdoctor string `json:"netdoctor,omitempty"`
	// APIPort is the loopback port of the API server forwarder (default 16443).
	APIPort int `json:"apiPort"`
	// KeepOnFailure leaves a lab that failed to come up in place, to debug.
	KeepOnFailure bool `json:"keepOnFailure,omitempty"`
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any) `json:"-"`
}

func (c *Config) setDefaults() error {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Nodes < 1 || c.Nodes > 8 {
		return fmt.Errorf("nodes must be 1-8, got %d", c.Nodes)
	}
	if c.Network == "" {
		c.Network = "kubenet"
	}
	if c.Network != "kubenet" && c.Network != "azure-cni" {
		return fmt.Errorf("network must be kubenet or azure-cni, got %q", c.Network)
	}
	if c.Name != "" && !validName.MatchString(c.Name) {
		return fmt.Errorf("lab name %q: want 1-6 lowercase letters or digits", c.Name)
	}
	if c.RunDir == "" {
		c.RunDir = RunDirFor(c.Name)
	}
	if c.APIPort == 0 {
		c.APIPort = 16443
		if c.Name != "" {
			h := fnv.New32a()
			h.Write([]byte(c.Name))
			c.APIPort = 16444 + int(h.Sum32()%500)
		}
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.BinDir == "" {
		d, err := FindBinDir()
		if err != nil {
			return err
		}
		c.BinDir = d
	}
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(c.BinDir, b)); err != nil {
			return fmt.Errorf("lab binary %s missing in %s (run scripts/lab-build.sh): %w", b, c.BinDir, err)
		}
	}
	if c.Ndlab == "" {
		exe, err := os.Executable()
		if err != nil || !strings.HasPrefix(filepath.Base(exe), "ndlab") {
			return errors.New("config.Ndlab is not set and this program is not ndlab: build ./cmd/ndlab and pass its path")
		}
		c.Ndlab = exe
	}
	return nil
}

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy", "coredns"}

var validName = regexp.MustCompile(`^[a-z0-9]{1,6}$`)

// PrefixFor is the namespace prefix of the lab called name.
func PrefixFor(name string) string {
	if name == "" {
		return Prefix
	}
	return "ndl" + name + "-"
}

// RunDirFor is the run directory of the lab called name: DefaultRunDir for
// the default lab, /run/ndlab-NAME otherwise.
func RunDirFor(name string) string {
	if name == "" {
		return DefaultRunDir()
	}
	return "/run/ndlab-" + name
}

// DefaultRunDir is $NDLAB_RUN or /run/ndlab.
func DefaultRunDir() string {
	if d := os.Getenv("NDLAB_RUN"); d != "" {
		return d
	}
	return "/run/ndlab"
}

// FindBinDir returns $NDLAB_BIN, or the newest cache directory
// ${NDLAB_CACHE:-/var/cache/ndlab}/bin-* that holds every lab binary.
func FindBinDir() (string, error) {
	if d := os.Getenv("NDLAB_BIN"); d != "" {
		return d, nil
	}
	root := os.Getenv("NDLAB_CACHE")
	if root == "" {
		root = "/var/cache/ndlab"
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin-*"))
	var best string
	var bestTime time.Time
	for _, m := range matches {
		if strings.HasSuffix(m, ".tmp") {
			continue
		}
		ok := true
		for _, b := range binaries {
			if _, err := os.Stat(filepath.Join(m, b)); err != nil {
				ok = false
			}
		}
		st, err := os.Stat(m)
		if ok && err == nil && st.ModTime().After(bestTime) {
			best, bestTime = m, st.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no lab binaries under %s: run scripts/lab-build.sh", root)
	}
	return best, nil
}

// Node is one lab node.
type Node struct {
	// Name is the Kubernetes node name.
	Name string `json:"name"`
	// Index is the node's ordinal.
	Index int `json:"index"`
	// NetNS is the node's network namespace.
	NetNS string `json:"netns"`
	// IP is the node's InternalIP.
	IP string `json:"ip"`
	// PodCIDR is the range the node's pods get addresses from.
	PodCIDR string `json:"podCIDR"`
	// SNATPorts is the node's outbound SNAT port range at the edge (lo-hi).
	SNATPorts [2]int `json:"snatPorts"`
}

// Proc is a process the lab started.
type Proc struct {
	// Name identifies the process (e.g. "kube-proxy-0").
	Name string `json:"name"`
	// PID is its process id; StartTime (clock ticks since boot) guards
	// against pid reuse.
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	// NetNS is the namespace it runs in ("" for the machine's).
	NetNS string `json:"netns"`
	// Log is its output file.
	Log string `json:"log"`
}

// FaultState is an active fault.
type FaultState struct {
	// Name is the fault's name.
	Name string `json:"name"`
	// Options are the options it was injected with (defaults filled in).
	Options FaultOptions `json:"options"`
	// Target names what the fault hit (a node, a pod, a Service).
	Target string `json:"target,omitempty"`
	// Since is when it was injected.
	Since time.Time `json:"since"`
}

// State is what a running lab records in <run dir>/state.json.
type State struct {
	Config Config `json:"config"`
	// Prefix starts the names of this lab's namespaces.
	Prefix     string `json:"prefix"`
	Kubeconfig string `json:"kubeconfig"`
	// InternalKubeconfig reaches the API server from inside lab namespaces.
	InternalKubeconfig string                `json:"internalKubeconfig"`
	APIServer          string                `json:"apiServer"`
	Nodes              []Node                `json:"nodes"`
	Procs              []Proc                `json:"procs"`
	AzureDir           string                `json:"azureDir"`
	Faults             map[string]FaultState `json:"faults"`
	Created            time.Time             `json:"created"`
	Ready              bool                  `json:"ready"`
}

// Lab is a running lab.
type Lab struct {
	state  State
	client kubernetes.Interface
	run    Runner
	logf   func(string, ...any)
}

func statePath(runDir string) string { return filepath.Join(runDir, "state.json") }

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l.state, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := statePath(l.state.Config.RunDir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, statePath(l.state.Config.RunDir)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Load opens the lab recorded in runDir ("" for the default).
func Load(runDir string) (*Lab, error) {
	if runDir == "" {
		runDir = DefaultRunDir()
	}
	b, err := os.ReadFile(statePath(runDir))
	if err != nil {
		return nil, fmt.Errorf("no lab state in %s (is a lab up?): %w", runDir, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", statePath(runDir), err)
	}
	l := &Lab{state: st, run: ExecRunner{}, logf: func(string, ...any) {}}
	if err := l.connect(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) connect() error {
	rc, err := clientcmd.BuildConfigFromFlags("", l.state.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100
	rc.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	l.client = cs
	return nil
}

// Kubeconfig is the path of the admin kubeconfig usable from the machine's
// own namespace (server https://127.0.0.1:<port>).
func (l *Lab) Kubeconfig() string { return l.state.Kubeconfig }

// Client is a client-go clientset for the lab's API server.
func (l *Lab) Client() kubernetes.Interface { return l.client }

// State returns a copy of the lab's recorded state.
func (l *Lab) State() State { return l.state }

// Nodes lists the lab's nodes.
func (l *Lab) Nodes() []Node { return append([]Node(nil), l.state.Nodes...) }

// RunDir is the lab's run directory.
func (l *Lab) RunDir() string { return l.state.Config.RunDir }

// AzureDir is the directory of az-CLI-shaped JSON describing the lab's
// Azure side (route table, NSG, cluster, load balancer), kept in step with
// the faults.
func (l *Lab) AzureDir() string { return l.state.AzureDir }

// node finds a node by name, index ("0", "n0", "node-0") or netns.
func (l *Lab) node(ref string) (Node, bool) {
	for _, n := range l.state.Nodes {
		if ref == n.Name || ref == n.NetNS || ref == fmt.Sprint(n.Index) ||
			ref == fmt.Sprintf("n%d", n.Index) || ref == fmt.Sprintf("node-%d", n.Index) {
			return n, true
		}
	}
	return Node{}, false
}

func nodeName(i int) string { return fmt.Sprintf("aks-nodepool1-12345678-vmss%06d", i) }

// prefix is this lab's namespace prefix.
func (l *Lab) prefix() string {
	if l.state.Prefix == "" {
		return Prefix
	}
	return l.state.Prefix
}

// nsName is the namespace of a fixed host (cp, edge, inet, upstream, nva)
// or node (n0...) of this lab.
func (l *Lab) nsName(host string) string { return l.prefix() + host }
func nodeIP(i int) string                { return fmt.Sprintf("10.224.0.%d", 4+i) }
func podCIDR(i int, network string) string {
	if network == "azure-cni" {
		return fmt.Sprintf("10.224.%d.0/24", 16+i)
	}
	return fmt.Sprintf("10.244.%d.0/24", i)
}

// snatRange is a node's default outbound port range: 1024 ports per node from
// 1024 on, as the Azure load balancer allocates for pools of up to 50 VMs.
func snatRange(i int) [2]int { return [2]int{1024 + i*1024, 1024 + (i+1)*1024 - 1} }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// waitFor polls cond every interval until it returns true, an error, or ctx
// ends.
func waitFor(ctx context.Context, what string, interval time.Duration, cond func(context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Namespace is the network namespace name of a fixed host ("cp", "edge",
// "inet", "upstream", "nva") or node ("n0", ...) of this lab; the NS*
// constants are the default lab's.
func (l *Lab) Namespace(host string) string { return l.nsName(host) }
