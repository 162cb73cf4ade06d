package finding

// egressEntries are the catalogue entries of the egress checks that read
// probe observations (probes/egress.json).
var egressEntries = []Entry{
	{
		Code:     "EGR004",
		Area:     "egress",
		Title:    "TCP fails intermittently while UDP works: ephemeral ports outside what the firewall lets back in",
		Severity: Critical,
		Meaning: "TCP needs its returning packets (the SYN-ACK and every ACK) let back in to the local port the connection used; UDP to the same target does not depend on that in the same way, so 'UDP works every time, TCP only sometimes' points at a filter on returning TCP traffic by port. " +
			"Many firewalls allow TCP replies only to the ephemeral range 32768-65535, while the node's net.ipv4.ip_local_port_range (or a kube-proxy/CNI SNAT port range) can hand out ports below it: connections from those ports never get their replies and time out, the others work. " +
			"The finding names the node's range and the ports that fall outside the firewall's range.",
		Fix: "Either limit the ephemeral ports Kubernetes uses to what the firewall allows (sysctl net.ipv4.ip_local_port_range=\"32768 60999\" on the nodes, e.g. through a node-level DaemonSet or the node pool's linuxOSConfig sysctls on AKS, and the matching SNAT --to-ports range), " +
			"or widen the firewall to allow returning TCP (ACK) traffic on every port the nodes can use. Confirm with 'netdoctor probe HOST:PORT --udp --count 50'.",
		Seeds: []string{"004_4728ba37a65a3fa2.txt"},
	},
	{
		Code:     "EGR006",
		Area:     "egress",
		Title:    "Remote end is down or refusing: not a cluster problem",
		Severity: Warning,
		Meaning: "The same probe fails from outside the cluster as from its nodes and pods (or every place is actively refused with a reset): the service is down on that port, the server is down, or the internet path to it is broken. " +
			"The cluster's egress (SNAT, route table, NSG, firewall) is not where it breaks.",
		Fix:   "Check the remote service with its owner (is it listening on that port, is the host up, is DNS pointing at the right address); 'mtr -r -c 20 HOST' (netdoctor probe --path) shows where the path loses packets.",
		Seeds: []string{"004_4728ba37a65a3fa2.txt", "002_b2287fa51c56c505.txt"},
	},
	{
		Code:     "EGR007",
		Area:     "egress",
		Title:    "The path works; the failure is at the HTTP level",
		Severity: Warning,
		Meaning: "TCP (and TLS) to the target succeed, and the request fails with an HTTP status or a TLS error: the network path is functional and the issue is the application or an application-aware device in the path. " +
			"A 502 or 504 comes from a gateway or proxy (possibly your own egress firewall/NVA or an upstream proxy) that could not reach or wait for the next hop; a 4xx with a proxy's or firewall's page (Squid, Azure Firewall 'Action: Deny', Via headers) is a device's access policy; other 4xx are the server refusing the request; other 5xx are the server failing. " +
			"A TLS 'unknown authority' error from the cluster but not from outside is a TLS-inspecting firewall.",
		Fix:   "Read the status's meaning in the finding. For a proxy's or firewall's page, allow the destination (FQDN, URL) in the egress device's application rules and check its logs for the denied request; for the server's own status, fix the request (URL, credentials, headers) or contact the server's owner.",
		Seeds: []string{"002_b2287fa51c56c505.txt"},
	},
}
