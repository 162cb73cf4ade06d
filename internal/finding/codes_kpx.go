package finding

// kubeProxyEntries are the catalogue entries of the kube-proxy checks.
var kubeProxyEntries = []Entry{
	{
		Code:     "KPX001",
		Area:     "kube-proxy",
		Title:    "Service has no ready endpoints: kube-proxy rejects its traffic",
		Severity: Critical,
		Meaning: "kube-proxy writes a REJECT rule (filter KUBE-SERVICES or KUBE-EXTERNAL-SERVICES, comment \"NS/NAME:PORT has no endpoints\") for a Service port with no ready endpoint. " +
			"A client connecting to the ClusterIP, NodePort, external IP or LoadBalancer IP gets \"connection refused\" (TCP RST or ICMP port unreachable) at once, from the node it is on, without the packet ever leaving that node. " +
			"The finding names the rule that rejects the packet on each node whose iptables-save was collected.",
		Fix: "Give the Service ready endpoints: check its selector against the pod labels and why its pods are not ready ('kubectl get endpointslices -l kubernetes.io/service-name=NAME -n NS', 'kubectl describe pod'). " +
			"Confirm on a node with 'iptables-save -t filter | grep \"NS/NAME\"' or 'netdoctor trace service NAME -n NS'.",
		Seeds: []string{"003_e6c859f7ec62a682.txt"},
	},
	{
		Code:     "KPX002",
		Area:     "kube-proxy",
		Title:    "externalTrafficPolicy Local: this node has no local endpoint and drops NodePort/LoadBalancer traffic",
		Severity: Warning,
		Meaning: "With externalTrafficPolicy: Local, kube-proxy sends external traffic only to endpoints on the node it arrives at, to keep the client's source IP. " +
			"A node without a local endpoint DROPs that traffic (filter KUBE-EXTERNAL-SERVICES, \"has no local endpoints\"), and answers 503 on the Service's healthCheckNodePort so that the cloud load balancer's health probe takes it out of rotation. " +
			"Clients connecting to such a node's NodePort directly, or a load balancer whose probe does not use the healthCheckNodePort (a custom health-probe annotation, a probe on the NodePort itself), time out on those nodes. " +
			"The finding lists the nodes that drop and the nodes that have endpoints.",
		Fix: "Point clients and load balancer health probes at nodes with endpoints: on AKS leave the health probe to the cloud provider (it probes HTTP healthCheckNodePort /healthz for Local Services) and remove custom probe port annotations; " +
			"or run an endpoint on every node (a DaemonSet, or topology spread), or use externalTrafficPolicy: Cluster if the client source IP is not needed. " +
			"Confirm with 'curl http://NODE_IP:HEALTH_CHECK_NODE_PORT/healthz' (503 with localEndpoints 0 on a dropping node).",
		Seeds: []string{"003_e6c859f7ec62a682.txt"},
	},
	{
		Code:     "KPX003",
		Area:     "kube-proxy",
		Title:    "kube-proxy's rules disagree with the EndpointSlices",
		Severity: Warning,
		Meaning: "The DNAT destinations in a node's rules for a Service port are not the ready endpoints the EndpointSlices list (endpoints missing from the rules, or rules for endpoints that are gone), or the rules still hold a Service that no longer exists. " +
			"kube-proxy on that node is not syncing: it is crash looping, cannot reach the API server, or its iptables-restore fails (a conflicting rule, a lock held by another program). " +
			"Traffic goes to pods that no longer exist (timeouts) or new pods get none. " +
			"The rules and the API objects are read a few seconds apart, so a Service that changed during collection can show here once: collect again before acting.",
		Fix: "Look at kube-proxy on the node: 'kubectl -n kube-system logs -l k8s-app=kube-proxy --field-selector spec.nodeName=NODE' (look for iptables-restore failures), " +
			"its sync metrics (kubeproxy_sync_proxy_rules_last_timestamp_seconds and kubeproxy_sync_proxy_rules_iptables_restore_failures_total on :10249/metrics), and restart it ('kubectl -n kube-system delete pod KUBE_PROXY_POD').",
		Seeds: []string{"003_e6c859f7ec62a682.txt"},
	},
	{
		Code:     "KPX004",
		Area:     "kube-proxy",
		Title:    "loadBalancerSourceRanges drop this client",
		Severity: Warning,
		Meaning: "A LoadBalancer Service with loadBalancerSourceRanges only admits clients from those ranges: kube-proxy sends traffic to the load balancer IP through KUBE-FW-*, which lets the listed sources on and leaves the rest to be DROPped in filter KUBE-PROXY-FIREWALL. " +
			"This applies on the nodes too: a pod or node in the cluster calling the load balancer IP is short-circuited by kube-proxy and dropped unless its own address (pod CIDR, node subnet) is in the ranges. " +
			"On AKS the same ranges also become NSG rules. The in-cluster pods are always checked; 'diagnose --client-ip IP' checks an outside client as well.",
		Fix:   "Add the client's range (or the cluster's pod and node CIDRs, for in-cluster clients) to spec.loadBalancerSourceRanges, or have in-cluster clients use the Service's ClusterIP or DNS name.",
		Seeds: []string{"003_e6c859f7ec62a682.txt"},
	},
}
