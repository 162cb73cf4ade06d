package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/analyze/kubeproxy"
	"github.com/netdoctor/netdoctor/internal/iptables"
	"github.com/netdoctor/netdoctor/internal/runner"
	"github.com/netdoctor/netdoctor/internal/snapshot"
	"github.com/netdoctor/netdoctor/internal/trace"
)

func newTraceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Trace a packet through kube-proxy's iptables rules",
		Long: `Trace follows a packet through a node's iptables rules with kube-proxy's
semantics (nat PREROUTING or OUTPUT, kube-proxy's filter chains, POSTROUTING)
and shows every rule it matches, the verdict (DNAT, ACCEPT, DROP, REJECT or
none), the DNAT destinations with their probabilities, masquerading and
session affinity.`,
	}
	cmd.AddCommand(newTracePacketCmd(g), newTraceServiceCmd(g))
	return cmd
}

// --- trace packet ---

type tracePacketOptions struct {
	file    string
	src     string
	dst     string
	dport   int
	sport   int
	proto   string
	nodeIPs []string
	local   bool
	output  string
}

func newTracePacketCmd(g *globals) *cobra.Command {
	o := &tracePacketOptions{}
	cmd := &cobra.Command{
		Use:   "packet --iptables-save FILE --src IP --dst IP --dport N",
		Short: "Trace one packet through an iptables-save dump",
		Example: `  iptables-save > node.txt   # on the node
  netdoctor trace packet --iptables-save node.txt --src 10.244.1.5 --dst 10.0.0.10 --dport 53 --proto udp
  netdoctor trace packet --iptables-save node.txt --src 203.0.113.7 --dst 10.240.0.4 --dport 31080 --node-ip 10.240.0.4 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(g.streams.In, g.streams.Out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.file, "iptables-save", "", "iptables-save output of the node (\"-\" reads stdin)")
	fs.StringVar(&o.src, "src", "", "source IP")
	fs.StringVar(&o.dst, "dst", "", "destination IP")
	fs.IntVar(&o.dport, "dport", 0, "destination port")
	fs.IntVar(&o.sport, "sport", 0, "source port (rules on the source port are not matched when unset)")
	fs.StringVar(&o.proto, "proto", "tcp", "protocol: tcp|udp|sctp")
	fs.StringSliceVar(&o.nodeIPs, "node-ip", nil, "the node's own IPs, for NodePorts and --dst-type LOCAL (repeatable)")
	fs.BoolVar(&o.local, "local", false, "the node itself sends the packet (nat OUTPUT instead of PREROUTING)")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	_ = cmd.MarkFlagRequired("iptables-save")
	_ = cmd.MarkFlagRequired("src")
	_ = cmd.MarkFlagRequired("dst")
	_ = cmd.MarkFlagRequired("dport")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	_ = cmd.RegisterFlagCompletionFunc("proto", fixedCompletion("tcp", "udp", "sctp"))
	return cmd
}

func (o *tracePacketOptions) packet() (trace.Packet, []netip.Addr, error) {
	var p trace.Packet
	src, err := netip.ParseAddr(o.src)
	if err != nil {
		return p, nil, usageError("--src %q is not an IP address", o.src)
	}
	dst, err := netip.ParseAddr(o.dst)
	if err != nil {
		return p, nil, usageError("--dst %q is not an IP address", o.dst)
	}
	if o.dport < 1 || o.dport > 65535 {
		return p, nil, usageError("--dport %d is not a port (1-65535)", o.dport)
	}
	if o.sport < 0 || o.sport > 65535 {
		return p, nil, usageError("--sport %d is not a port (1-65535)", o.sport)
	}
	proto := strings.ToLower(o.proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return p, nil, usageError("--proto %q: want tcp, udp or sctp", o.proto)
	}
	if o.output != "text" && o.output != "json" {
		return p, nil, usageError("unknown output format %q (want text or json)", o.output)
	}
	var ips []netip.Addr
	for _, s := range o.nodeIPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return p, nil, usageError("--node-ip %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	return trace.Packet{Src: src, Dst: dst, Proto: proto, SrcPort: o.sport, DstPort: o.dport, Local: o.local}, ips, nil
}

func (o *tracePacketOptions) run(in io.Reader, out io.Writer) error {
	p, ips, err := o.packet()
	if err != nil {
		return err
	}
	var data []byte
	name := o.file
	if o.file == "-" {
		data, err = io.ReadAll(in)
		name = "stdin"
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return fmt.Errorf("read iptables-save: %w", err)
	}
	d, err := iptables.Parse(name, data)
	if err != nil {
		return err
	}
	tr, err := trace.New(d, ips)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	res := tr.Trace(p)
	if o.output == "json" {
		return writeJSON(out, res)
	}
	if err := trace.WriteText(out, p, res, trace.TextOptions{}); err != nil {
		return err
	}
	for _, u := range d.Unknown {
		fmt.Fprintf(out, "note: %s: kept but not understood\n", u)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// --- trace service ---

type traceServiceOptions struct {
	bundle string
	port   string
	node   string
	via    string
	from   string
	output string
	agent  agentOptions
}

func newTraceServiceCmd(g *globals) *cobra.Command {
	o := &traceServiceOptions{}
	cmd := &cobra.Command{
		Use:   "service NAME",
		Short: "Trace how a Service's traffic is DNATed on a node, down to the pods",
		Long: `Trace service follows a packet to a Service (its ClusterIP, a NodePort, its
load balancer IP or an external IP) through the iptables rules of one node,
and draws the path the way one walks kube-proxy's chains by hand:
KUBE-SERVICES -> KUBE-SVC/KUBE-EXT/KUBE-FW -> KUBE-SEP -> DNAT, ending at the
pods and the nodes they run on.

Offline it reads the node's iptables-save from a bundle made with
'netdoctor collect --node-data'; live it runs netdoctor's node agent on the
node (a short-lived hostNetwork pod) to read it.`,
		Example: `  netdoctor trace service web -n shop
  netdoctor trace service web -n shop --via loadbalancer --from 198.51.100.7
  netdoctor trace service web -n shop --via nodeport --node aks-nodepool1-0 --bundle cluster.tar.gz
  netdoctor trace service kube-dns -n kube-system --port dns --from pod/client-7d9`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), g, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.bundle, "bundle", "", "read a bundle (directory or .tar.gz with node data) instead of the live cluster")
	fs.StringVar(&o.port, "port", "", "the Service port (name or number); needed when it has several")
	fs.StringVar(&o.node, "node", "", "the node whose rules to trace (default: the --from pod's node, else the first node with rules)")
	fs.StringVar(&o.via, "via", string(kubeproxy.ViaClusterIP), "how the client reaches the Service: clusterip|nodeport|loadbalancer|externalip")
	fs.StringVar(&o.from, "from", "", "the client: an IP, or pod/NAME in the Service's namespace (default: the node itself for clusterip, an external client for the others)")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	o.agent.addFlags(fs)
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	_ = cmd.RegisterFlagCompletionFunc("via", fixedCompletion("clusterip", "nodeport", "loadbalancer", "externalip"))
	return cmd
}

// serviceTrace is trace service's JSON output.
type serviceTrace struct {
	Service   string               `json:"service"`
	Port      string               `json:"port"`
	Via       kubeproxy.Via        `json:"via"`
	Node      string               `json:"node"`
	Packet    packetJSON           `json:"packet"`
	Endpoints []traceEndpoint      `json:"endpoints"`
	Findings  []string             `json:"findings,omitempty"`
	Result    trace.Result         `json:"result"`
	packet    trace.Packet         `json:"-"`
	eps       []kubeproxy.Endpoint `json:"-"`
}

type packetJSON struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	DPort int    `json:"dport"`
	Proto string `json:"proto"`
	Local bool   `json:"local"`
}

type traceEndpoint struct {
	IP          string  `json:"ip"`
	Port        int     `json:"port"`
	Probability float64 `json:"probability"`
	Pod         string  `json:"pod,omitempty"`
	Node        string  `json:"node,omitempty"`
}

func (o *traceServiceOptions) validate() error {
	switch kubeproxy.Via(o.via) {
	case kubeproxy.ViaClusterIP, kubeproxy.ViaNodePort, kubeproxy.ViaLoadBalancer, kubeproxy.ViaExternalIP:
	default:
		return usageError("--via %q: want clusterip, nodeport, loadbalancer or externalip", o.via)
	}
	if o.output != "text" && o.output != "json" {
		return usageError("unknown output format %q (want text or json)", o.output)
	}
	return nil
}

func (o *traceServiceOptions) run(ctx context.Context, g *globals, name string) error {
	if err := o.validate(); err != nil {
		return err
	}
	ns := "default"
	switch {
	case g.config.Namespace != nil && *g.config.Namespace != "":
		ns = *g.config.Namespace
	case o.bundle == "":
		// the kubeconfig context's namespace
		if n, _, err := g.config.ToRawKubeConfigLoader().Namespace(); err == nil && n != "" {
			ns = n
		}
	}
	var snap *snapshot.Snapshot
	var err error
	if o.bundle != "" {
		if snap, err = snapshot.Read(o.bundle); err != nil {
			return err
		}
	} else {
		if snap, err = collectLive(ctx, g, collectExtras{}); err != nil {
			return err
		}
	}
	svc := snap.Index().Service(ns, name)
	if svc == nil {
		return fmt.Errorf("service %s/%s not found", ns, name)
	}
	port, err := pickPort(svc, o.port)
	if err != nil {
		return err
	}
	src, srcPod, err := o.source(snap, ns)
	if err != nil {
		return err
	}
	nodeName := o.node
	if nodeName == "" && srcPod != nil {
		nodeName = srcPod.Spec.NodeName
	}
	if nodeName == "" {
		if nodeName, err = defaultNode(snap, o.bundle != ""); err != nil {
			return err
		}
	}
	if o.bundle == "" {
		if err := o.fetchNode(ctx, g, snap, nodeName); err != nil {
			return err
		}
	}
	n, skip := kubeproxy.LoadNode(snap, nodeName)
	if skip != nil {
		return fmt.Errorf("node %s: %s", nodeName, skip.Reason)
	}
	if n == nil {
		return fmt.Errorf("no iptables-save for node %s in the bundle (collect with --node-data; nodes with data: %s)", nodeName, strings.Join(snap.NodesWithFiles(), ", "))
	}
	local := false
	via := kubeproxy.Via(o.via)
	if !src.IsValid() {
		switch {
		case via == kubeproxy.ViaClusterIP && len(n.IPs) > 0:
			src, local = n.IPs[0], true
		case via == kubeproxy.ViaClusterIP:
			src, local = netip.MustParseAddr("127.0.0.1"), true
		default:
			src = kubeproxy.ExternalClient
		}
	} else {
		for _, ip := range n.IPs {
			if ip == src {
				local = true
			}
		}
	}
	p, res, err := kubeproxy.TraceService(n, svc, port, via, src, local)
	if err != nil {
		return err
	}
	st := serviceTrace{
		Service: ns + "/" + name, Port: portLabel(port), Via: via, Node: nodeName,
		Packet: packetJSON{Src: p.Src.String(), Dst: p.Dst.String(), DPort: p.DstPort, Proto: p.Proto, Local: p.Local},
		Result: res, packet: p, eps: kubeproxy.Endpoints(snap, svc, port), Endpoints: []traceEndpoint{},
	}
	for _, d := range res.Destinations {
		te := traceEndpoint{IP: d.IP, Port: d.Port, Probability: d.Probability}
		if e, ok := kubeproxy.EndpointOwner(st.eps, d.IP, d.Port); ok {
			te.Pod, te.Node = e.Pod, e.Node
		}
		st.Endpoints = append(st.Endpoints, te)
	}
	st.Findings = traceFindings(svc, res)
	if o.output == "json" {
		return writeJSON(g.streams.Out, st)
	}
	return st.writeText(g.streams.Out)
}

// traceFindings names the finding codes a traced verdict shows.
func traceFindings(svc *corev1.Service, res trace.Result) []string {
	switch kubeproxy.Classify(res) {
	case "KPX001":
		return []string{"KPX001: the Service has no ready endpoints; kube-proxy rejects the connection"}
	case "KPX002":
		return []string{"KPX002: externalTrafficPolicy Local and this node has no local endpoint: the packet is dropped"}
	case "KPX004":
		return []string{fmt.Sprintf("KPX004: the client is not in loadBalancerSourceRanges (%s): the packet is dropped", strings.Join(svc.Spec.LoadBalancerSourceRanges, ", "))}
	}
	return nil
}

func (st serviceTrace) writeText(w io.Writer) error {
	fmt.Fprintf(w, "Service %s port %s via %s, on node %s\n", st.Service, st.Port, st.Via, st.Node)
	err := trace.WriteText(w, st.packet, st.Result, trace.TextOptions{Endpoint: func(d trace.Destination) string {
		e, ok := kubeproxy.EndpointOwner(st.eps, d.IP, d.Port)
		switch {
		case !ok:
			return "(not an endpoint in the EndpointSlices)"
		case e.Pod != "" && e.Node != "":
			return "pod " + e.Pod + " on node " + e.Node
		case e.Pod != "":
			return "pod " + e.Pod
		case e.Node != "":
			return "on node " + e.Node
		}
		return ""
	}})
	if err != nil {
		return err
	}
	for _, f := range st.Findings {
		if _, err := fmt.Fprintf(w, "finding: %s (netdoctor explain %s)\n", f, f[:6]); err != nil {
			return err
		}
	}
	if chains := serviceChains(st.Result); len(chains) > 0 {
		fmt.Fprintf(w, "confirm on node %s:\n", st.Node)
		for _, c := range chains {
			if _, err := fmt.Fprintf(w, "  iptables -t %s -nL %s --line-numbers\n", c[0], c[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// serviceChains lists the (table, chain) pairs of the Service's own chains
// (KUBE-SVC/SVL/EXT/FW/XLB/SEP) the packet went through, in order.
func serviceChains(res trace.Result) [][2]string {
	var out [][2]string
	seen := map[string]bool{}
	add := func(table, chain string) {
		for _, p := range []string{"KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-XLB-", "KUBE-SEP-"} {
			if strings.HasPrefix(chain, p) && !seen[table+chain] {
				seen[table+chain] = true
				out = append(out, [2]string{table, chain})
			}
		}
	}
	for _, s := range res.Path {
		add(s.Table, s.Chain)
		add(s.Table, s.Target)
	}
	return out
}

func portLabel(p *corev1.ServicePort) string {
	proto := string(p.Protocol)
	if proto == "" {
		proto = "TCP"
	}
	if p.Name != "" {
		return fmt.Sprintf("%s (%d/%s)", p.Name, p.Port, proto)
	}
	return fmt.Sprintf("%d/%s", p.Port, proto)
}

func pickPort(svc *corev1.Service, want string) (*corev1.ServicePort, error) {
	var names []string
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		names = append(names, portLabel(p))
		if want != "" && (p.Name == want || strconv.Itoa(int(p.Port)) == want) {
			return p, nil
		}
	}
	if want == "" && len(svc.Spec.Ports) == 1 {
		return &svc.Spec.Ports[0], nil
	}
	if want == "" {
		return nil, usageError("service %s/%s has several ports; pick one with --port: %s", svc.Namespace, svc.Name, strings.Join(names, ", "))
	}
	return nil, usageError("service %s/%s has no port %q (ports: %s)", svc.Namespace, svc.Name, want, strings.Join(names, ", "))
}

// source reads --from: an IP, or pod/NAME in the namespace.
func (o *traceServiceOptions) source(snap *snapshot.Snapshot, ns string) (netip.Addr, *corev1.Pod, error) {
	if o.from == "" {
		return netip.Addr{}, nil, nil
	}
	if name, ok := strings.CutPrefix(o.from, "pod/"); ok {
		p := snap.Index().Pod(ns, name)
		if p == nil {
			return netip.Addr{}, nil, usageError("--from: pod %s/%s not found", ns, name)
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			return netip.Addr{}, nil, usageError("--from: pod %s/%s has no IP yet", ns, name)
		}
		return ip, p, nil
	}
	ip, err := netip.ParseAddr(o.from)
	if err != nil {
		return netip.Addr{}, nil, usageError("--from %q: want an IP or pod/NAME", o.from)
	}
	return ip, nil, nil
}

// defaultNode picks the first node with an iptables-save (offline) or the
// first ready Linux node (live).
func defaultNode(snap *snapshot.Snapshot, offline bool) (string, error) {
	if offline {
		for _, n := range snap.NodesWithFiles() {
			if _, ok := snap.NodeFile(n, "iptables-save.txt"); ok {
				return n, nil
			}
		}
		return "", fmt.Errorf("the bundle has no node iptables-save (collect with --node-data)")
	}
	var names []string
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		if n.Labels[corev1.LabelOSStable] == "windows" {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				names = append(names, n.Name)
			}
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no ready Linux node to trace on (give one with --node)")
	}
	sort.Strings(names)
	return names[0], nil
}

// fetchNode reads the node's artifacts through the node agent.
func (o *traceServiceOptions) fetchNode(ctx context.Context, g *globals, snap *snapshot.Snapshot, node string) error {
	r, err := o.agent.newRunner(g)
	if err != nil {
		return err
	}
	defer r.Close(ctx)
	resp, err := r.Run(ctx, runner.Target{Node: node, HostNetwork: true}, agent.Request{Kind: agent.KindNodeData})
	if err != nil {
		return fmt.Errorf("read node %s's rules: %w", node, err)
	}
	if resp.Error != "" && len(resp.Result) == 0 {
		return fmt.Errorf("read node %s's rules: %s", node, resp.Error)
	}
	var res agent.NodeDataResult
	if err := json.Unmarshal(resp.Result, &res); err != nil {
		return fmt.Errorf("read node %s's rules: bad node-data result: %w", node, err)
	}
	for name, content := range res.Files {
		snap.SetFile(snapshot.NodeFilePath(node, name), []byte(content))
	}
	return nil
}
