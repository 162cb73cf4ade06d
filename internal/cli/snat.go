package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/azure"
)

type snatOptions struct {
	nodes, ips, ports, surge int
	output                   string
}

func newSNATCmd(g *globals) *cobra.Command {
	o := &snatOptions{}
	cmd := &cobra.Command{
		Use:   "snat",
		Short: "Print the Azure load balancer SNAT capacity table and what-if",
		Long: `Snat prints the SNAT port arithmetic of an AKS cluster's outbound load balancer:
the default allocation table by backend pool size, the ports each node gets
for --nodes, --ips and --ports (allocatedOutboundPorts; 0 is the default
table), the check AKS applies to that allocation (the error it returns when
nodes plus upgrade surge times ports exceed outbound IPs x 64,000), the largest
node count per choice of ports, and the NAT gateway alternative.

It is arithmetic only: it reads no cluster.`,
		Example: `  netdoctor snat
  netdoctor snat --nodes 60
  netdoctor snat --nodes 25 --ips 1 --ports 3200   # what AKS refuses, and why
  netdoctor snat --nodes 40 --ips 2 --ports 2048 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			p := snatPlan(o.nodes, o.ips, o.ports, o.surge)
			if o.output == "json" {
				enc := json.NewEncoder(g.streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			return p.writeText(g.streams.Out)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.nodes, "nodes", 3, "node count (backend pool size)")
	fs.IntVar(&o.ips, "ips", 1, "outbound public IPs on the load balancer")
	fs.IntVar(&o.ports, "ports", 0, "allocatedOutboundPorts per node (0: the default allocation table)")
	fs.IntVar(&o.surge, "surge", 1, "extra nodes during an upgrade (maxSurge), counted by AKS when it validates --ports")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	return cmd
}

func (o *snatOptions) validate() error {
	switch {
	case o.output != "text" && o.output != "json":
		return usageError("unknown output format %q (want text or json)", o.output)
	case o.nodes < 1:
		return usageError("--nodes must be at least 1")
	case o.ips < 1:
		return usageError("--ips must be at least 1")
	case o.ports < 0 || o.ports > azure.LBMaxPortsPerNode:
		return usageError("--ports must be between 0 and %d", azure.LBMaxPortsPerNode)
	case o.ports%azure.LBPortGranularity != 0:
		return usageError("--ports must be a multiple of %d (the load balancer allocates ports in blocks of 8)", azure.LBPortGranularity)
	case o.surge < 0:
		return usageError("--surge must not be negative")
	}
	return nil
}

// snatReport is the output of `netdoctor snat` (-o json prints it).
type snatReport struct {
	DefaultTable []snatTableRow  `json:"defaultTable"`
	Scenario     snatScenario    `json:"scenario"`
	MaxNodes     []snatMaxNodes  `json:"maxNodesByPorts"`
	NATGateway   snatNATGateway  `json:"natGateway"`
	WhatIf       []snatAlternate `json:"whatIf"`
}

type snatTableRow struct {
	FirstNode    int `json:"firstNode"`
	LastNode     int `json:"lastNode"`
	PortsPerNode int `json:"portsPerNode"`
}

type snatScenario struct {
	Nodes        int    `json:"nodes"`
	IPs          int    `json:"ips"`
	Ports        int    `json:"allocatedOutboundPorts"`
	Surge        int    `json:"surge"`
	PortsPerNode int    `json:"portsPerNode"`
	Source       string `json:"source"`
	TotalPorts   int    `json:"totalPorts"`
	UsedPorts    int    `json:"usedPorts"`
	MaxNodes     int    `json:"maxNodes"`
	Valid        bool   `json:"valid"`
	ErrorCode    string `json:"errorCode,omitempty"`
	Error        string `json:"error,omitempty"`
}

type snatMaxNodes struct {
	Ports    int `json:"portsPerNode"`
	MaxNodes int `json:"maxNodes"`
}

type snatNATGateway struct {
	IPs         int `json:"ips"`
	TotalPorts  int `json:"totalPorts"`
	IdleTimeout int `json:"idleTimeoutMinutes"`
}

type snatAlternate struct {
	Change   string `json:"change"`
	Command  string `json:"command"`
	Ports    int    `json:"portsPerNode"`
	IPs      int    `json:"ips"`
	MaxNodes int    `json:"maxNodes"`
}

// snatPlan computes the report; pure arithmetic.
func snatPlan(nodes, ips, ports, surge int) snatReport {
	var p snatReport
	for _, row := range azure.DefaultTable() {
		p.DefaultTable = append(p.DefaultTable, snatTableRow{row[0], row[1], row[2]})
	}
	c := azure.LBCapacity(nodes, ips, ports, surge)
	p.Scenario = snatScenario{
		Nodes: nodes, IPs: ips, Ports: ports, Surge: surge,
		PortsPerNode: c.PortsPerNode, Source: c.Source, TotalPorts: c.TotalPorts, UsedPorts: c.Used, MaxNodes: c.MaxNodes,
		Valid: c.Err == nil,
	}
	if c.Err != nil {
		p.Scenario.Error = c.Err.Error()
		var ae *azure.AllocationError
		if errors.As(c.Err, &ae) {
			p.Scenario.ErrorCode = azure.AllocationErrorCode
		}
	}
	for _, pp := range []int{1024, 2048, 4000, 8000, 16000, 32000, 64000} {
		p.MaxNodes = append(p.MaxNodes, snatMaxNodes{pp, azure.MaxNodes(ips, pp, surge)})
	}
	ng := azure.NATGatewayCapacity(ips, 0)
	p.NATGateway = snatNATGateway{IPs: ips, TotalPorts: ng.TotalPorts, IdleTimeout: ng.IdleTimeout}

	want := nodes + surge
	cur := c.PortsPerNode
	if ports > 0 && c.Err != nil {
		n := azure.IPsForNodes(want, ports)
		p.WhatIf = append(p.WhatIf, snatAlternate{
			Change:  fmt.Sprintf("keep %d ports per node, use %d outbound IPs", ports, n),
			Command: fmt.Sprintf("az aks update -g RG -n CLUSTER --load-balancer-managed-outbound-ip-count %d", n),
			Ports:   ports, IPs: n, MaxNodes: azure.MaxNodes(n, ports, surge),
		})
		if pp := azure.PortsForNodes(ips, want); pp > 0 {
			p.WhatIf = append(p.WhatIf, snatAlternate{
				Change:  fmt.Sprintf("keep %s, lower ports per node to %d", snatCount(ips, "outbound IP"), pp),
				Command: fmt.Sprintf("az aks update -g RG -n CLUSTER --load-balancer-outbound-ports %d", pp),
				Ports:   pp, IPs: ips, MaxNodes: azure.MaxNodes(ips, pp, surge),
			})
		}
	}
	if cur > 0 && cur < azure.LBMaxPortsPerNode && c.Err == nil {
		double := min(2*cur, azure.LBMaxPortsPerNode)
		n := max(ips, azure.IPsForNodes(want, double))
		args := fmt.Sprintf("--load-balancer-outbound-ports %d", double)
		if n > ips {
			args = fmt.Sprintf("--load-balancer-managed-outbound-ip-count %d ", n) + args
		}
		p.WhatIf = append(p.WhatIf, snatAlternate{
			Change:  fmt.Sprintf("double the ports per node to %d", double),
			Command: "az aks update -g RG -n CLUSTER " + args,
			Ports:   double, IPs: n, MaxNodes: azure.MaxNodes(n, double, surge),
		})
	}
	if best := azure.PortsForNodes(ips, want); best > cur && (ports == 0 || c.Err == nil) {
		p.WhatIf = append(p.WhatIf, snatAlternate{
			Change:  fmt.Sprintf("give each of the %d nodes (with surge) every port %s have", want, snatCount(ips, "IP")),
			Command: fmt.Sprintf("az aks update -g RG -n CLUSTER --load-balancer-outbound-ports %d", best),
			Ports:   best, IPs: ips, MaxNodes: azure.MaxNodes(ips, best, surge),
		})
	}
	return p
}

func (p snatReport) writeText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	s := p.Scenario
	fmt.Fprintf(w, "Default SNAT ports per node (allocatedOutboundPorts 0), by backend pool size:\n")
	for _, r := range p.DefaultTable {
		mark := ""
		if s.Ports == 0 && s.Nodes >= r.FirstNode && s.Nodes <= r.LastNode {
			mark = "  <- " + fmt.Sprint(s.Nodes) + " nodes"
		}
		fmt.Fprintf(w, "  %d-%d nodes\t%d ports%s\n", r.FirstNode, r.LastNode, r.PortsPerNode, mark)
	}
	fmt.Fprintf(w, "\nYour cluster: %s, %s, allocatedOutboundPorts %d, upgrade surge %d\n", snatCount(s.Nodes, "node"), snatCount(s.IPs, "outbound IP"), s.Ports, s.Surge)
	if s.PortsPerNode > 0 {
		fmt.Fprintf(w, "  ports per node\t%d (%s)\n", s.PortsPerNode, s.Source)
	}
	fmt.Fprintf(w, "  ports on the load balancer\t%d (%s x 64,000)\n", s.TotalPorts, snatCount(s.IPs, "IP"))
	fmt.Fprintf(w, "  ports allocated to nodes\t%d\n", s.UsedPorts)
	fmt.Fprintf(w, "  max nodes\t%d\n", s.MaxNodes)
	if s.Valid {
		fmt.Fprintf(w, "  AKS validation\tok\n")
	} else {
		code := ""
		if s.ErrorCode != "" {
			code = "(" + s.ErrorCode + ") "
		}
		fmt.Fprintf(w, "  AKS validation\tfails: %s%s\n", code, s.Error)
	}
	fmt.Fprintf(w, "\nMax nodes on %s (surge %d) by allocatedOutboundPorts:\n", snatCount(s.IPs, "outbound IP"), s.Surge)
	for _, m := range p.MaxNodes {
		fmt.Fprintf(w, "  %d ports\t%s\n", m.Ports, snatCount(m.MaxNodes, "node"))
	}
	if len(p.WhatIf) > 0 {
		fmt.Fprintf(w, "\nWhat if:\n")
		for _, a := range p.WhatIf {
			fmt.Fprintf(w, "  %s: %d ports per node on %s, up to %s\n    %s\n", a.Change, a.Ports, snatCount(a.IPs, "IP"), snatCount(a.MaxNodes, "node"), a.Command)
		}
	}
	fmt.Fprintf(w, "\nNAT gateway instead: %s x 64,512 = %d ports shared on demand by all nodes (up to %d IPs), TCP idle timeout %d min by default\n",
		snatCount(p.NATGateway.IPs, "IP"), p.NATGateway.TotalPorts, azure.NATMaxIPs, p.NATGateway.IdleTimeout)
	fmt.Fprintf(w, "  az aks update -g RG -n CLUSTER --outbound-type managedNATGateway --nat-gateway-managed-outbound-ip-count %d\n", p.NATGateway.IPs)
	fmt.Fprintf(w, "\nA node needs one port per concurrent flow to the same destination IP and port; ports are held for the idle timeout (30 min on AKS's outbound rule by default).\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	return nil
}

// snatCount is "1 node", "2 nodes".
func snatCount(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
