// Package nodeagent is the lab's stand-in for the kubelet. One agent runs in
// each lab node's network namespace: it registers the Node object, renews its
// lease and Ready condition, runs the pods bound to the node (a network
// namespace per pod with a real address, or the node's namespace for
// hostNetwork pods), reports pod status, and serves container logs on the
// kubelet port so `kubectl logs` works through the API server.
package nodeagent

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Config describes one node of the lab.
type Config struct {
	// NodeName is the Kubernetes node name.
	NodeName string
	// NodeIP is the node's InternalIP; the agent listens on NodeIP:10250.
	NodeIP netip.Addr
	// PodCIDR is the node's pod range; the agent takes .1 as the pod gateway.
	PodCIDR netip.Prefix
	// RegisterPodCIDR sets spec.podCIDR on the Node (kubenet); azure-cni
	// nodes have none.
	RegisterPodCIDR bool
	// NetNS is the name of the node's network namespace.
	NetNS string
	// NetNSPrefix starts the names of the pods' network namespaces.
	NetNSPrefix string
	// Kubeconfig is the path of the kubeconfig to reach the API server.
	Kubeconfig string
	// RunDir is the lab's run directory.
	RunDir string
	// BinDir holds coredns and, when installed, netdoctor.
	BinDir string
	// Ndlab is the ndlab binary, whose `daemon podinit` starts pod processes.
	Ndlab string
	// ClusterDNS is the nameserver written into ClusterFirst pods' resolv.conf.
	ClusterDNS string
	// ClusterDomain is the cluster's DNS domain, usually cluster.local.
	ClusterDomain string
	// NodeResolvConf is the resolv.conf of the node (used by hostNetwork and
	// dnsPolicy Default pods).
	NodeResolvConf string
	// KubeletVersion is reported in the node's status.
	KubeletVersion string
	// Index is the node's ordinal in the lab.
	Index int
	// Labels are extra node labels.
	Labels map[string]string
	// Logf prints the agent's own log lines.
	Logf func(format string, args ...any)
}

// Agent runs one lab node.
type Agent struct {
	cfg    Config
	client kubernetes.Interface

	mu      sync.Mutex
	pods    map[string]*podRun // by pod UID
	ipsUsed map[netip.Addr]string
}

// New builds an agent from cfg, reading the kubeconfig.
func New(cfg Config) (*Agent, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("build client: %w", err)
	}
	return NewWithClient(cfg, cs), nil
}

// NewWithClient builds an agent around an existing client.
func NewWithClient(cfg Config, client kubernetes.Interface) *Agent {
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	return &Agent{cfg: cfg, client: client, pods: map[string]*podRun{}, ipsUsed: map[netip.Addr]string{}}
}

// Run registers the node and serves until ctx ends; then it stops every pod
// it started.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.podsDir(), 0o755); err != nil {
		return fmt.Errorf("create pods dir: %w", err)
	}
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- a.serveLogs(ctx) }()
	go a.heartbeat(ctx)
	go func() { errc <- a.watchPods(ctx) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			a.cfg.Logf("agent: %v", err)
		}
	}
	a.stopAll()
	return nil
}

func (a *Agent) podsDir() string { return filepath.Join(a.cfg.RunDir, "pods") }

func (a *Agent) logf(format string, args ...any) { a.cfg.Logf(format, args...) }

// sleepCtx waits d or until ctx ends, reporting whether it waited in full.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
