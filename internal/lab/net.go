package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// buildNetwork creates the lab's namespaces and links:
//
//	nodes, cp --eth0--[ndl-vnet bridge in ndl-edge 10.224.0.1]
//	ndl-edge: route table (pod CIDR -> node), NSG chain, outbound SNAT -> wan
//	ndl-edge --nva-- ndl-nva (10.225.0.4, MASQUERADE) --wan--+
//	ndl-edge --wan (203.0.113.1, .10)------------------------+-- ndl-ibr bridge in ndl-inet
//	ndl-inet: internet hosts on lo (198.51.100.80/.81), --ndl-iup-- ndl-upstream (192.0.2.53)
//
// No namespace has a link to the machine's own namespace.
func (l *Lab) buildNetwork(ctx context.Context) error {
	c := l.state.Config
	all := []string{l.nsName("cp"), l.nsName("edge"), l.nsName("inet"), l.nsName("upstream"), l.nsName("nva")}
	for _, n := range l.state.Nodes {
		all = append(all, n.NetNS)
	}
	var cmds [][]string
	for _, ns := range all {
		cmds = append(cmds, []string{"ip", "netns", "add", ns}, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	// VNet: a bridge in the edge with the control plane and nodes on it.
	cmds = append(cmds,
		[]string{"ip", "-n", l.nsName("edge"), "link", "add", "ndl-vnet", "type", "bridge"},
		[]string{"ip", "-n", l.nsName("edge"), "addr", "add", EdgeIP + "/16", "dev", "ndl-vnet"},
		[]string{"ip", "-n", l.nsName("edge"), "link", "set", "ndl-vnet", "up"},
	)
	attach := func(hostNS, edgeIf, addr string) {
		cmds = append(cmds,
			[]string{"ip", "-n", l.nsName("edge"), "link", "add", edgeIf, "type", "veth", "peer", "name", "eth0", "netns", hostNS},
			[]string{"ip", "-n", l.nsName("edge"), "link", "set", edgeIf, "master", "ndl-vnet", "up"},
			[]string{"ip", "-n", hostNS, "addr", "add", addr + "/16", "dev", "eth0"},
			[]string{"ip", "-n", hostNS, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", hostNS, "route", "add", "default", "via", EdgeIP},
		)
	}
	attach(l.nsName("cp"), "ndl-vcp", APIServerIP)
	for _, n := range l.state.Nodes {
		attach(n.NetNS, fmt.Sprintf("ndl-vn%d", n.Index), n.IP)
	}
	// Internet: a bridge in ndl-inet; the edge's and the NVA's WAN sides.
	cmds = append(cmds,
		[]string{"ip", "-n", l.nsName("inet"), "link", "add", "ndl-ibr", "type", "bridge"},
		[]string{"ip", "-n", l.nsName("inet"), "addr", "add", "203.0.113.254/24", "dev", "ndl-ibr"},
		[]string{"ip", "-n", l.nsName("inet"), "link", "set", "ndl-ibr", "up"},
		[]string{"ip", "-n", l.nsName("edge"), "link", "add", "wan", "type", "veth", "peer", "name", "ndl-iedge", "netns", l.nsName("inet")},
		[]string{"ip", "-n", l.nsName("inet"), "link", "set", "ndl-iedge", "master", "ndl-ibr", "up"},
		[]string{"ip", "-n", l.nsName("edge"), "addr", "add", "203.0.113.1/24", "dev", "wan"},
		[]string{"ip", "-n", l.nsName("edge"), "addr", "add", OutboundIP + "/32", "dev", "wan"},
		[]string{"ip", "-n", l.nsName("edge"), "link", "set", "wan", "up"},
		[]string{"ip", "-n", l.nsName("edge"), "route", "add", "default", "via", "203.0.113.254"},
		// NVA between the edge and the internet (used by UDR faults).
		[]string{"ip", "-n", l.nsName("edge"), "link", "add", "nva", "type", "veth", "peer", "name", "eth0", "netns", l.nsName("nva")},
		[]string{"ip", "-n", l.nsName("edge"), "addr", "add", "10.225.0.1/24", "dev", "nva"},
		[]string{"ip", "-n", l.nsName("edge"), "link", "set", "nva", "up"},
		[]string{"ip", "-n", l.nsName("nva"), "addr", "add", NVAIP + "/24", "dev", "eth0"},
		[]string{"ip", "-n", l.nsName("nva"), "link", "set", "eth0", "up"},
		[]string{"ip", "-n", l.nsName("nva"), "link", "add", "wan", "type", "veth", "peer", "name", "ndl-inva", "netns", l.nsName("inet")},
		[]string{"ip", "-n", l.nsName("inet"), "link", "set", "ndl-inva", "master", "ndl-ibr", "up"},
		[]string{"ip", "-n", l.nsName("nva"), "addr", "add", "203.0.113.20/24", "dev", "wan"},
		[]string{"ip", "-n", l.nsName("nva"), "link", "set", "wan", "up"},
		[]string{"ip", "-n", l.nsName("nva"), "route", "add", "default", "via", "203.0.113.254"},
		[]string{"ip", "-n", l.nsName("nva"), "route", "add", VNetCIDR, "via", "10.225.0.1"},
		[]string{"ip", "-n", l.nsName("nva"), "route", "add", ClusterCIDR, "via", "10.225.0.1"},
		// Upstream DNS host behind the internet router.
		[]string{"ip", "-n", l.nsName("inet"), "link", "add", "ndl-iup", "type", "veth", "peer", "name", "eth0", "netns", l.nsName("upstream")},
		[]string{"ip", "-n", l.nsName("inet"), "addr", "add", "192.0.2.1/24", "dev", "ndl-iup"},
		[]string{"ip", "-n", l.nsName("inet"), "link", "set", "ndl-iup", "up"},
		[]string{"ip", "-n", l.nsName("upstream"), "addr", "add", UpstreamDNSIP + "/24", "dev", "eth0"},
		[]string{"ip", "-n", l.nsName("upstream"), "link", "set", "eth0", "up"},
		[]string{"ip", "-n", l.nsName("upstream"), "route", "add", "default", "via", "192.0.2.1"},
		[]string{"ip", "-n", l.nsName("inet"), "addr", "add", WebIP + "/32", "dev", "lo"},
		[]string{"ip", "-n", l.nsName("inet"), "addr", "add", RemoteIP + "/32", "dev", "lo"},
	)
	// Forwarding and no redirects in the routers.
	for _, ns := range []string{l.nsName("edge"), l.nsName("inet"), l.nsName("nva")} {
		cmds = append(cmds, sysctl(ns, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0",
			"net.ipv4.conf.default.send_redirects=0", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"))
	}
	cmds = append(cmds, sysctl(l.nsName("edge"), "net.ipv4.conf.ndl-vnet.send_redirects=0"))
	// Edge filter: faults first, then the NSG for traffic leaving the VNet.
	cmds = append(cmds,
		ipt(l.nsName("edge"), "-N", "NDL-FAULTS"),
		ipt(l.nsName("edge"), "-A", "FORWARD", "-j", "NDL-FAULTS"),
		ipt(l.nsName("edge"), "-N", "NDL-NSG"),
		ipt(l.nsName("edge"), "-A", "FORWARD", "-i", "ndl-vnet", "!", "-o", "ndl-vnet", "-j", "NDL-NSG"),
		ipt(l.nsName("edge"), "-t", "raw", "-N", "NDL-FAULTS"),
		ipt(l.nsName("edge"), "-t", "raw", "-A", "PREROUTING", "-j", "NDL-FAULTS"),
		ipt(l.nsName("edge"), "-t", "nat", "-N", "NDL-SNAT"),
		ipt(l.nsName("edge"), "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "NDL-SNAT"),
		ipt(l.nsName("nva"), "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"),
		ipt(l.nsName("nva"), "-N", "NDL-FAULTS"),
		ipt(l.nsName("nva"), "-A", "FORWARD", "-j", "NDL-FAULTS"),
		ipt(l.nsName("inet"), "-N", "NDL-FAULTS"),
		ipt(l.nsName("inet"), "-A", "INPUT", "-j", "NDL-FAULTS"),
	)
	for _, n := range l.state.Nodes {
		cmds = append(cmds, l.snatRules("-A", n, n.SNATPorts)...)
		if c.Network == "kubenet" {
			cmds = append(cmds, []string{"ip", "-n", l.nsName("edge"), "route", "add", n.PodCIDR, "via", n.IP})
		}
		cmds = append(cmds, l.nodeSetup(n)...)
	}
	if err := l.steps(ctx, cmds); err != nil {
		return fmt.Errorf("build network: %w", err)
	}
	for _, n := range l.state.Nodes {
		dir := filepath.Join(c.RunDir, "nodes", n.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create node dir: %w", err)
		}
		resolv := "nameserver " + UpstreamDNSIP + "\nsearch ndlab.internal.cloudapp.net\noptions timeout:2 attempts:2\n"
		if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
			return fmt.Errorf("write node resolv.conf: %w", err)
		}
	}
	return nil
}

// snatRules are the edge's outbound SNAT rules of one node: TCP and UDP get
// the node's port range on the outbound IP, ICMP the IP.
func (l *Lab) snatRules(op string, n Node, ports [2]int) [][]string {
	to := OutboundIP + ":" + strconv.Itoa(ports[0]) + "-" + strconv.Itoa(ports[1])
	rules := [][]string{
		ipt(l.nsName("edge"), "-t", "nat", op, "NDL-SNAT", "-s", n.IP, "-p", "tcp", "-j", "SNAT", "--to-source", to),
		ipt(l.nsName("edge"), "-t", "nat", op, "NDL-SNAT", "-s", n.IP, "-p", "udp", "-j", "SNAT", "--to-source", to),
		ipt(l.nsName("edge"), "-t", "nat", op, "NDL-SNAT", "-s", n.IP, "-j", "SNAT", "--to-source", OutboundIP),
	}
	if op == "-I" {
		// Inserted rules end up in reverse: keep the catch-all last.
		rules[0], rules[2] = rules[2], rules[0]
	}
	return rules
}

// nodeSetup are a node's sysctls and the ip-masq-agent rules AKS installs.
func (l *Lab) nodeSetup(n Node) [][]string {
	nonMasq := ClusterCIDR
	if l.state.Config.Network == "azure-cni" {
		nonMasq = VNetCIDR
	}
	cmds := [][]string{
		sysctl(n.NetNS, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
			"net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.all.send_redirects=0"),
		ipt(n.NetNS, "-t", "nat", "-N", "IP-MASQ-AGENT"),
		ipt(n.NetNS, "-t", "nat", "-A", "POSTROUTING", "-m", "comment", "--comment",
			"ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic to our custom IP-MASQ-AGENT chain",
			"-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", "IP-MASQ-AGENT"),
		ipt(n.NetNS, "-t", "nat", "-A", "IP-MASQ-AGENT", "-d", nonMasq, "-m", "comment", "--comment",
			"ip-masq-agent: local traffic is not subject to MASQUERADE", "-j", "RETURN"),
		ipt(n.NetNS, "-t", "nat", "-A", "IP-MASQ-AGENT", "-m", "comment", "--comment",
			"ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)", "-j", "MASQUERADE"),
	}
	if l.state.Config.Network == "azure-cni" {
		// Pods hold VNet addresses behind the node: answer ARP for them.
		cmds = append(cmds, sysctl(n.NetNS, "net.ipv4.conf.eth0.proxy_arp=1"))
	}
	return cmds
}
