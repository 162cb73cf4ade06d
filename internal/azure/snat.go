package azure

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SNAT constants of Azure Load Balancer and NAT gateway.
const (
	// LBPortsPerIP is the number of SNAT ports each load balancer frontend
	// IP gives to its backend pool.
	LBPortsPerIP = 64000
	// LBMaxPortsPerNode is the most allocatedOutboundPorts AKS accepts.
	LBMaxPortsPerNode = 64000
	// LBPortGranularity: ports are allocated in blocks of 8.
	LBPortGranularity = 8
	// LBMaxPoolForDefault is the largest backend pool the default
	// allocation table covers.
	LBMaxPoolForDefault = 1000
	// AKSDefaultLBIdleTimeout is the idle timeout, in minutes, of the
	// outbound rule AKS creates when the profile leaves it unset.
	AKSDefaultLBIdleTimeout = 30
	// NATPortsPerIP is the number of SNAT ports per NAT gateway public IP.
	NATPortsPerIP = 64512
	// NATMaxIPs is the most public IPs a NAT gateway takes.
	NATMaxIPs = 16
	// NATDefaultIdleTimeout is the NAT gateway's default TCP idle timeout,
	// in minutes.
	NATDefaultIdleTimeout = 4
)

// defaultTable is the load balancer's default SNAT allocation by backend
// pool size, when no ports are allocated explicitly.
var defaultTable = []struct{ maxPool, ports int }{
	{50, 1024}, {100, 512}, {200, 256}, {400, 128}, {800, 64}, {1000, 32},
}

// DefaultPortsPerNode returns the default SNAT ports per backend instance for
// a pool of that size (1-50: 1024, 51-100: 512, 101-200: 256, 201-400: 128,
// 401-800: 64, 801-1000: 32).
func DefaultPortsPerNode(poolSize int) (int, error) {
	if poolSize < 1 {
		return 0, fmt.Errorf("backend pool size %d: want at least 1", poolSize)
	}
	for _, row := range defaultTable {
		if poolSize <= row.maxPool {
			return row.ports, nil
		}
	}
	return 0, fmt.Errorf("backend pool size %d: the default allocation covers at most %d instances", poolSize, LBMaxPoolForDefault)
}

// DefaultTable returns the default allocation table as (first, last, ports) rows.
func DefaultTable() [][3]int {
	out := make([][3]int, 0, len(defaultTable))
	lo := 1
	for _, row := range defaultTable {
		out = append(out, [3]int{lo, row.maxPool, row.ports})
		lo = row.maxPool + 1
	}
	return out
}

// Capacity is the SNAT capacity of an AKS load balancer for a cluster size.
type Capacity struct {
	// Nodes is the backend pool size; IPs the number of outbound frontend IPs.
	Nodes, IPs int
	// Allocated is the configured allocatedOutboundPorts (0: default table).
	Allocated int
	// PortsPerNode is what each node gets.
	PortsPerNode int
	// Source says where PortsPerNode comes from.
	Source string
	// TotalPorts is IPs x 64,000; Used is Nodes x PortsPerNode.
	TotalPorts, Used int
	// MaxNodes is the largest pool the configuration supports.
	MaxNodes int
	// Err is set when the configuration is not valid (over-allocation,
	// pool too large for the default table, ports not a multiple of 8).
	Err error
}

// LBCapacity computes the load balancer SNAT capacity for a pool of nodes
// behind ips frontend IPs with allocated ports per node (0: default table).
// surge is the number of extra nodes an upgrade adds (AKS counts them when it
// validates the allocation).
func LBCapacity(nodes, ips, allocated, surge int) Capacity {
	c := Capacity{Nodes: nodes, IPs: ips, Allocated: allocated, TotalPorts: ips * LBPortsPerIP}
	if allocated > 0 {
		c.PortsPerNode = allocated
		c.Source = "allocatedOutboundPorts"
		c.MaxNodes = MaxNodes(ips, allocated, surge)
		c.Err = ValidateAllocation(allocated, nodes+surge, ips)
	} else {
		c.Source = "default allocation table"
		c.MaxNodes = LBMaxPoolForDefault
		p, err := DefaultPortsPerNode(max(nodes, 1))
		c.PortsPerNode, c.Err = p, err
	}
	c.Used = nodes * c.PortsPerNode
	return c
}

// MaxNodes is the largest node count (excluding surge) that ips outbound
// IPs support with allocated ports per node.
func MaxNodes(ips, allocated, surge int) int {
	if allocated <= 0 {
		return LBMaxPoolForDefault
	}
	return max(ips*LBPortsPerIP/allocated-surge, 0)
}

// PortsForNodes is the most ports per node (a multiple of 8) that ips IPs
// give to nodes (+surge) nodes.
func PortsForNodes(ips, nodes int) int {
	if nodes <= 0 {
		return 0
	}
	p := min(ips*LBPortsPerIP/nodes, LBMaxPortsPerNode)
	return p - p%LBPortGranularity
}

// IPsForNodes is the fewest outbound IPs that give nodes (+surge) nodes
// allocated ports each.
func IPsForNodes(nodes, allocated int) int {
	if allocated <= 0 || nodes <= 0 {
		return 1
	}
	return int(math.Ceil(float64(nodes*allocated) / LBPortsPerIP))
}

// AllocationError is the error AKS returns when allocatedOutboundPorts does
// not fit the node count and outbound IPs (code
// InvalidLoadBalancerProfileAllocatedOutboundPorts).
type AllocationError struct {
	Allocated, Nodes, Required, Available, IPs int
}

// AllocationErrorCode is the ARM error code of an AllocationError.
const AllocationErrorCode = "InvalidLoadBalancerProfileAllocatedOutboundPorts"

func (e *AllocationError) Error() string {
	return fmt.Sprintf("Load balancer profile allocated ports %d is not in an allowable range given the number of nodes and IPs provisioned. "+
		"Total node count %d requires %d ports but only %d ports are available given %d outbound public IPs. "+
		"Refer to https://aka.ms/aks/slb-ports for more details.",
		e.Allocated, e.Nodes, e.Required, e.Available, e.IPs)
}

// ValidateAllocation applies the check AKS makes on
// networkProfile.loadBalancerProfile.allocatedOutboundPorts: nodes (including
// autoscaler maximums and upgrade surge) x ports must fit in ips x 64,000, and
// ports must be a multiple of 8 between 0 and 64,000.
func ValidateAllocation(allocated, nodes, ips int) error {
	if allocated < 0 || allocated > LBMaxPortsPerNode {
		return fmt.Errorf("allocated outbound ports %d: want 0 to %d", allocated, LBMaxPortsPerNode)
	}
	if allocated%LBPortGranularity != 0 {
		return fmt.Errorf("allocated outbound ports %d: not a multiple of %d", allocated, LBPortGranularity)
	}
	if allocated == 0 {
		return nil
	}
	req, avail := nodes*allocated, ips*LBPortsPerIP
	if req > avail {
		return &AllocationError{Allocated: allocated, Nodes: nodes, Required: req, Available: avail, IPs: ips}
	}
	return nil
}

// NATCapacity is the SNAT capacity of a NAT gateway: ports are shared by
// every VM of its subnets on demand, not pre-allocated per node.
type NATCapacity struct {
	IPs, TotalPorts int
	IdleTimeout     int
	Err             error
}

// NATGatewayCapacity computes a NAT gateway's SNAT capacity with ips public
// IPs (prefixes count by their size) and an idle timeout in minutes (0: the
// default of 4).
func NATGatewayCapacity(ips, idle int) NATCapacity {
	c := NATCapacity{IPs: ips, TotalPorts: ips * NATPortsPerIP, IdleTimeout: idle}
	if idle == 0 {
		c.IdleTimeout = NATDefaultIdleTimeout
	}
	if ips > NATMaxIPs {
		c.Err = fmt.Errorf("%d public IPs: a NAT gateway takes at most %d", ips, NATMaxIPs)
	}
	return c
}

// Surge returns the number of extra nodes an upgrade of a pool of count
// nodes adds, from maxSurge ("1", "33%"; empty means 1).
func Surge(maxSurge string, count int) (int, error) {
	s := strings.TrimSpace(maxSurge)
	if s == "" {
		return 1, nil
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil || p < 0 {
			return 0, fmt.Errorf("maxSurge %q: not a percentage", maxSurge)
		}
		return int(math.Ceil(float64(count*p) / 100)), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("maxSurge %q: not a number or percentage", maxSurge)
	}
	return n, nil
}

// ValidationNodes is the node count AKS validates the allocation with: each
// pool's count (its maxCount when autoscaling) plus its upgrade surge.
func (c *ManagedCluster) ValidationNodes() (nodes, surge int, err error) {
	for _, p := range c.AgentPoolProfiles {
		n := p.Count
		if p.EnableAutoScaling && p.MaxCount != nil {
			n = *p.MaxCount
		}
		ms := ""
		if p.UpgradeSettings != nil {
			ms = p.UpgradeSettings.MaxSurge
		}
		s, e := Surge(ms, n)
		if e != nil && err == nil {
			err = fmt.Errorf("node pool %s: %w", p.Name, e)
		}
		nodes += n
		surge += s
	}
	return nodes, surge, err
}
