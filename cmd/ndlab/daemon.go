package main

import (
	"log"
	"net/netip"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/lab/hosts"
	"github.com/netdoctor/netdoctor/internal/lab/nodeagent"
	"github.com/netdoctor/netdoctor/internal/lab/nsnet"
	"github.com/netdoctor/netdoctor/internal/lab/podinit"
	"github.com/netdoctor/netdoctor/internal/lab/sched"
)

// newDaemonCmd holds the lab's own long-running processes, which the lab
// starts inside its namespaces. They are not meant to be run by hand.
func newDaemonCmd() *cobra.Command {
	d := &cobra.Command{Use: "daemon", Short: "lab-internal processes", Hidden: true}
	d.AddCommand(newAgentCmd(), newSchedulerCmd(), newForwardCmd(), newUpstreamCmd(), newInternetCmd(), newNVACmd(), newPodinitCmd())
	return d
}

func newAgentCmd() *cobra.Command {
	var o struct {
		cfg             nodeagent.Config
		nodeIP, podCIDR string
		registerPodCIDR bool
	}
	cmd := &cobra.Command{
		Use:  "agent",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ip, err := netip.ParseAddr(o.nodeIP)
			if err != nil {
				return err
			}
			pfx, err := netip.ParsePrefix(o.podCIDR)
			if err != nil {
				return err
			}
			o.cfg.NodeIP, o.cfg.PodCIDR = ip, pfx
			o.cfg.RegisterPodCIDR = o.registerPodCIDR
			exe, err := os.Executable() // resolves the kubelet link to ndlab
			if err != nil {
				return err
			}
			o.cfg.Ndlab = exe
			o.cfg.Logf = log.Printf
			a, err := nodeagent.New(o.cfg)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.NodeName, "node", "", "node name")
	f.IntVar(&o.cfg.Index, "index", 0, "node index")
	f.StringVar(&o.nodeIP, "node-ip", "", "node InternalIP")
	f.StringVar(&o.podCIDR, "pod-cidr", "", "node pod CIDR")
	f.BoolVar(&o.registerPodCIDR, "register-pod-cidr", true, "set spec.podCIDR on the Node (kubenet)")
	f.StringVar(&o.cfg.NetNS, "netns", "", "node network namespace name")
	f.StringVar(&o.cfg.NetNSPrefix, "netns-prefix", "ndl-", "prefix of pod network namespace names")
	f.StringVar(&o.cfg.Kubeconfig, "kubeconfig", "", "kubeconfig")
	f.StringVar(&o.cfg.RunDir, "run-dir", "", "lab run dir")
	f.StringVar(&o.cfg.BinDir, "bin-dir", "", "binaries dir")
	f.StringVar(&o.cfg.ClusterDNS, "cluster-dns", "", "cluster DNS IP")
	f.StringVar(&o.cfg.ClusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
	f.StringVar(&o.cfg.NodeResolvConf, "node-resolv-conf", "", "node resolv.conf")
	f.StringVar(&o.cfg.KubeletVersion, "kubelet-version", "", "version to report")
	return cmd
}

func clientFor(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

func newSchedulerCmd() *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{
		Use:  "scheduler",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(kubeconfig)
			if err != nil {
				return err
			}
			return sched.New(c, log.Printf).Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig")
	return cmd
}

func newForwardCmd() *cobra.Command {
	var listen, netns, target string
	cmd := &cobra.Command{
		Use:  "forward",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return hosts.Forward(cmd.Context(), listen, nsnet.Path(netns), target)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:16443", "loopback address to listen on")
	cmd.Flags().StringVar(&netns, "netns", "", "namespace to dial from")
	cmd.Flags().StringVar(&target, "target", "", "address to dial")
	return cmd
}

func newUpstreamCmd() *cobra.Command {
	var addr, modeFile string
	cmd := &cobra.Command{
		Use:  "upstream",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return hosts.NewUpstream(hosts.UpstreamConfig{Addr: addr, Records: hosts.DefaultRecords(), ModeFile: modeFile, Logf: log.Printf}).Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address")
	cmd.Flags().StringVar(&modeFile, "mode-file", "", "mode file (legacy512 caps UDP answers)")
	return cmd
}

func newInternetCmd() *cobra.Command {
	var addrs []string
	cmd := &cobra.Command{
		Use:  "internet",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return hosts.RunInternet(cmd.Context(), hosts.InternetConfig{Addrs: addrs, Logf: log.Printf})
		},
	}
	cmd.Flags().StringArrayVar(&addrs, "addr", nil, "address to serve on (repeatable)")
	return cmd
}

func newNVACmd() *cobra.Command {
	var addr, statusFile string
	cmd := &cobra.Command{
		Use:  "nva",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return hosts.RunNVA(cmd.Context(), addr, statusFile)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address")
	cmd.Flags().StringVar(&statusFile, "status-file", "", "file holding the HTTP status to answer")
	return cmd
}

func newPodinitCmd() *cobra.Command {
	var s podinit.Spec
	cmd := &cobra.Command{
		Use:  "podinit [flags] -- CMD [ARGS...]",
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s.Argv = args
			return podinit.Exec(s)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&s.NetNS, "netns", "", "network namespace path")
	cmd.Flags().StringVar(&s.Hostname, "hostname", "", "hostname")
	cmd.Flags().StringArrayVar(&s.Binds, "bind", nil, "src=dst bind mount (repeatable)")
	cmd.Flags().StringVar(&s.Workdir, "workdir", "", "working directory")
	return cmd
}
