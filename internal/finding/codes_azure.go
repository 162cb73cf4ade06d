package finding

// azureSeeds are the field guides the Azure outbound-path checks come from.
var azureSeeds = []string{"000_feb3c2f47c7a686a.txt", "001_d6f9ca48b5f6b863.txt", "002_b2287fa51c56c505.txt"}

// azureEntries are the catalogue entries of the Azure outbound-path checks.
var azureEntries = []Entry{
	{
		Code:     "EGR001",
		Area:     "azure",
		Title:    "SNAT ports exhausted or near exhaustion on the outbound path",
		Severity: Critical,
		Meaning: "With outbound type loadBalancer, every node gets a fixed number of SNAT ports from the load balancer's outbound rule: allocatedOutboundPorts, or by default by backend pool size " +
			"(1-50 nodes: 1024, 51-100: 512, 101-200: 256, 201-400: 128, 401-800: 64, 801-1000: 32), out of 64,000 ports per frontend IP. " +
			"A node needs one port per concurrent flow to the same public destination IP and port; when its pods hold more (connections not reused, a burst of new connections, " +
			"ports kept for the idle timeout after the flow ends), new SYNs are dropped at the load balancer and connections time out intermittently, on that node only. " +
			"A NAT gateway shares 64,512 ports per public IP (up to 16) between all VMs of its subnets. " +
			"The finding also reports an allocation AKS would refuse (InvalidLoadBalancerProfileAllocatedOutboundPorts): nodes, autoscaler maximums and upgrade surge times allocatedOutboundPorts must fit in outbound IPs x 64,000, or scaling and upgrades fail.",
		Fix: "Reuse connections (HTTP keep-alive, connection pools) in the pods named; add outbound IPs ('az aks update --load-balancer-managed-outbound-ip-count N'); " +
			"set ports per node ('az aks update --load-balancer-outbound-ports P', within IPs x 64,000 / (max nodes + surge)); or move egress to a NAT gateway ('az aks update --outbound-type managedNATGateway'). " +
			"Confirm with the load balancer metrics Used SNAT Ports against Allocated SNAT Ports split by backend IP, and SNAT Connection Count with state failed.",
		Seeds: azureSeeds,
	},
	{
		Code:     "EGR002",
		Area:     "azure",
		Title:    "A user-defined route blackholes or diverts outbound traffic",
		Severity: Critical,
		Meaning: "Azure picks the route for a destination by longest prefix over the subnet's route table and its system routes. A route with next hop None drops the traffic (a blackhole). " +
			"A 0.0.0.0/0 route to a virtual appliance (a firewall or NVA) sends all egress through it: that is the design of outbound type userDefinedRouting, and a problem with any other outbound type " +
			"(asymmetric routing with the load balancer's SNAT), or when the appliance is unreachable or drops the destination. " +
			"With kubenet, the route table must also send every node's pod CIDR to that node; a missing or wrong route breaks pod traffic across nodes, DNS included.",
		Fix: "Fix or remove the route named ('az network route-table route update/delete'). To test whether the appliance is the cause, add a temporary, more specific route for the destination with next hop Internet, " +
			"test again from a pod, and remove the route right after; the finding prints the exact commands. If the test succeeds, fix the appliance's rules for the cluster's subnet.",
		Seeds: azureSeeds,
	},
	{
		Code:     "EGR003",
		Area:     "azure",
		Title:    "An NSG rule denies outbound traffic from the nodes",
		Severity: Critical,
		Meaning: "Network security groups on the node subnet and on the node NICs are evaluated in priority order (NIC first for outbound, then subnet; both must allow), ending with the default rules " +
			"AllowVnetOutBound (65000), AllowInternetOutBound (65001) and DenyAllOutBound (65500). The first rule that matches the protocol, destination address and port decides. " +
			"The finding names the deciding rule. Rules with service tags other than Internet, VirtualNetwork and AzureLoadBalancer, or with application security groups, are reported as unknown, never guessed.",
		Fix: "Change or remove the rule named ('az network nsg rule update/delete'), or add an allow rule with a lower priority number for the traffic the cluster needs. " +
			"Confirm with 'az network watcher test-ip-flow' or the NIC's effective security rules ('az network nic list-effective-nsg').",
		Seeds: azureSeeds,
	},
	{
		Code:     "EGR005",
		Area:     "azure",
		Title:    "NAT gateway not associated with the node subnet, or its idle timeout is too short",
		Severity: Critical,
		Meaning: "With outbound type managedNATGateway or userAssignedNATGateway, egress leaves through the NAT gateway associated with the node subnet. " +
			"If the subnet is not associated with it, the nodes have no outbound path it provides. " +
			"The NAT gateway drops TCP flows idle longer than its idle timeout (default 4 minutes, up to 120) without telling either end; connections that stay idle longer " +
			"(Linux's default keepalive starts after 2 hours) then fail on their next use.",
		Fix: "Associate the subnet ('az network vnet subnet update --nat-gateway NAME'); raise the idle timeout ('az network nat gateway update --idle-timeout MINUTES') " +
			"or, better, make the application send TCP keepalives more often than the timeout.",
		Seeds: azureSeeds,
	},
}
