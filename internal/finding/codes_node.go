package finding

// nodeSeeds are the field guides the node checks come from.
var nodeSeeds = []string{"000_feb3c2f47c7a686a.txt", "002_b2287fa51c56c505.txt", "004_4728ba37a65a3fa2.txt"}

// nodeEntries are the catalogue entries of the node checks.
var nodeEntries = []Entry{
	{
		Code:     "NODE001",
		Area:     "node",
		Title:    "A node's pod CIDR is not routed to the node (kubenet)",
		Severity: Critical,
		Meaning: "With kubenet, each node owns a pod CIDR (spec.podCIDR) and pods on other nodes reach it through a route: pod CIDR -> the node's IP, " +
			"in the subnet's Azure route table (written by the cloud provider's route controller) or, where the nodes route for themselves, in every node's route table. " +
			"When that route is missing, points to another address (a stale route after a node was replaced) or is a blackhole, traffic from other nodes to every pod on that node is lost: " +
			"pod-to-pod calls time out, and DNS times out for clients whose query lands on a CoreDNS pod there.",
		Fix: "Recreate the route ('az network route-table route create -g NODE_RG --route-table-name RT -n NODE --address-prefix POD_CIDR --next-hop-type VirtualAppliance --next-hop-ip-address NODE_IP'); " +
			"check that the route table is still associated with the node subnet ('az network vnet subnet show ... --query routeTable') and that the cluster identity may write it (Network Contributor), " +
			"otherwise the route controller cannot repair it. The node's NetworkUnavailable condition shows whether the route controller created its route.",
		Seeds: nodeSeeds,
	},
	{
		Code:     "NODE002",
		Area:     "node",
		Title:    "Connection tracking table near full, or insertions failing",
		Severity: Warning,
		Meaning: "Every connection through a node (pod traffic, Service DNAT, SNAT) needs an entry in the kernel's connection tracking table. " +
			"When nf_conntrack_count reaches nf_conntrack_max the kernel drops new connections ('nf_conntrack: table full, dropping packet'), which looks like random timeouts. " +
			"insert_failed and drop rising mean entries could not be inserted: besides a full table, the classic cause is the race between two UDP packets of the same socket " +
			"(glibc sends the A and AAAA DNS queries in parallel), which loses one query and makes DNS lookups take 5 seconds.",
		Fix: "Find the connection-heavy pods on the node (conntrack -L summary per destination in nodes/<node>/connections.json), reuse connections, raise net.netfilter.nf_conntrack_max if the node has the memory, " +
			"and for the DNS race use NodeLocal DNSCache (TCP to the upstream), 'options single-request-reopen' or 'use-vc' in the pod's dnsConfig.",
		Seeds: nodeSeeds,
	},
	{
		Code:     "NODE003",
		Area:     "node",
		Title:    "Node under resource pressure, or pods near their CPU or memory limits",
		Severity: Warning,
		Meaning: "A node with MemoryPressure, DiskPressure or PIDPressure evicts pods and refuses new ones; a node or pod running at its CPU limit is throttled and answers late, " +
			"which callers see as network timeouts; a container near its memory limit is about to be OOM-killed and its connections reset. " +
			"Network symptoms often come from here (seed 002: check 'kubectl top' before blaming the network).",
		Fix: "Look at 'kubectl describe node NODE' and 'kubectl top pods -A --sort-by=memory'; raise the limits or requests of the pods named, spread them, or add nodes. " +
			"When the metrics API is missing, install metrics-server to measure usage.",
		Seeds: nodeSeeds,
	},
}
