package finding

// dnsEntries are the catalogue entries of the DNS checks.
var dnsEntries = []Entry{
	{
		Code:     "DNS001",
		Area:     "dns",
		Title:    "Cluster DNS (kube-dns / CoreDNS) is not serving",
		Severity: Critical,
		Meaning: "Pods resolve names through the kube-dns Service in kube-system, backed by the CoreDNS pods. " +
			"If the Service is missing, has no ready endpoints, or the CoreDNS pods are not ready or crash looping, every lookup from pods with dnsPolicy ClusterFirst fails or times out.",
		Fix:   "Check 'kubectl -n kube-system get svc kube-dns', 'kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide' and the CoreDNS logs ('kubectl -n kube-system logs -l k8s-app=kube-dns'); a bad Corefile in the coredns or coredns-custom ConfigMap is a common cause of a crash loop.",
		Seeds: []string{"000_feb3c2f47c7a686a.txt", "001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "DNS002",
		Area:     "dns",
		Title:    "External names fail while cluster names resolve (CoreDNS -> upstream)",
		Severity: Critical,
		Meaning: "The probe resolved cluster names through kube-dns and the CoreDNS pods, but external names failed: CoreDNS answers what it knows and forwards the rest to its upstream (forward . /etc/resolv.conf: the node's DNS servers, on Azure 168.63.129.16 or a custom VNet DNS), and that hop is broken. " +
			"What the upstream itself answered tells why: timeouts over UDP while TCP works point to a firewall or NSG dropping 53/udp; timeouts over both to a route (a UDR sending the subnet's traffic to an appliance that drops or blackholes it) or an unreachable server; SERVFAIL or REFUSED to the upstream server itself.",
		Fix:   "Check the route table of the node subnet (az network route-table route list), the NSG and any firewall between the nodes and the DNS server for 53/udp and 53/tcp, and the DNS servers of the VNet. From a node: dig @UPSTREAM example.com and dig +tcp @UPSTREAM example.com.",
		Seeds: []string{"000_feb3c2f47c7a686a.txt"},
	},
	{
		Code:     "DNS003",
		Area:     "dns",
		Title:    "DNS answers are truncated (TC) and musl-based clients cannot fall back to TCP",
		Severity: Warning,
		Meaning: "An answer too large for a 512-byte UDP message comes back with the TC flag set and CoreDNS passes it on. A glibc resolver then asks again over TCP; musl libc (Alpine and other musl images) before 1.2.4 never does, so the lookup fails or returns nothing in those pods only. " +
			"The probe sees the truncation and whether the same query over TCP succeeds; the images tell which workloads are at risk.",
		Fix:   "Move the affected workloads to a glibc-based image (debian-slim, distroless) or to musl 1.2.4 or later (Alpine 3.18+), make the answer smaller (fewer records), or have clients ask over TCP (options use-vc in dnsConfig for glibc).",
		Seeds: []string{"000_feb3c2f47c7a686a.txt"},
	},
	{
		Code:     "DNS004",
		Area:     "dns",
		Title:    "NetworkPolicy egress blocks DNS (NodeLocal DNS address or kube-dns)",
		Severity: Critical,
		Meaning: "Pods in the namespace are isolated for egress and no policy allows DNS to where their queries go. With NodeLocal DNS the queries never reach a CoreDNS pod: node-local-dns answers on the node at 169.254.20.10 and at the kube-dns ClusterIP, so a rule that allows the CoreDNS pods by label does not match; the policy needs those two addresses as ipBlocks, UDP and TCP 53. " +
			"Without NodeLocal DNS the queries are DNATed to the CoreDNS pods, which a rule must allow (namespaceSelector kube-system and podSelector k8s-app=kube-dns).",
		Fix:   "Apply the NetworkPolicy printed in the finding, or add its egress rule to the namespace's policy.",
		Seeds: []string{"001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "DNS005",
		Area:     "dns",
		Title:    "CoreDNS or NodeLocal DNS configuration problem",
		Severity: Warning,
		Meaning:  "A rule over the Corefiles (coredns, coredns-custom, node-local-dns ConfigMaps) failed: the configuration does not parse (CoreDNS refuses to start or to reload), forward points at something that is not an address or a resolv.conf file, NodeLocal DNS still holds __PILLAR__ placeholders that its installer should have replaced, NodeLocal DNS binds addresses that are not its link-local address or the kube-dns ClusterIP, or the loop plugin is missing so a forwarding loop goes unnoticed. The finding names the ConfigMap key and line.",
		Fix:      "Edit the named ConfigMap key at the named line as the finding says; on AKS only coredns-custom may be edited (kubectl -n kube-system edit configmap coredns-custom), then restart CoreDNS (kubectl -n kube-system rollout restart deployment coredns).",
		Seeds:    []string{"001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "DNS006",
		Area:     "dns",
		Title:    "Intermittent DNS failures or slow answers at one hop",
		Severity: Warning,
		Meaning: "Repeated queries to each hop failed some of the time or answered slowly. Which hop says where: one CoreDNS pod worse than the others is a bad replica (its node, its upstream path, its load); every CoreDNS pod alike points to the upstream or CoreDNS's capacity; the kube-dns ClusterIP worse than the pods behind it points to the node's path (conntrack). " +
			"When A and AAAA sent together from one socket lose one of the pair, that is the conntrack insert race that glibc clients see as 5-second delays; the node's conntrack insert_failed counter confirms it.",
		Fix:   "For one bad replica: delete that pod and look at its node. For the conntrack race: NodeLocal DNS, or options single-request-reopen / use-vc in the pods' dnsConfig. For load: scale CoreDNS (AKS: coredns-autoscaler) and check its CPU throttling.",
		Seeds: []string{"000_feb3c2f47c7a686a.txt", "001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "DNS007",
		Area:     "dns",
		Title:    "ndots:5 multiplies queries for external names",
		Severity: Info,
		Meaning:  "With dnsPolicy ClusterFirst a pod's resolv.conf has ndots:5 and three or more search domains, so a name with fewer than five dots is tried with every search domain first: api.example.com costs four NXDOMAIN round trips, for A and for AAAA, before the real query. It adds latency and load on CoreDNS and the upstream.",
		Fix:      "Write external names as FQDNs with a trailing dot (api.example.com.), or lower ndots for the workload: spec.dnsConfig.options [{name: ndots, value: \"2\"}].",
		Seeds:    []string{"000_feb3c2f47c7a686a.txt"},
	},
	{
		Code:     "DNS008",
		Area:     "dns",
		Title:    "DNS cache settings read back",
		Severity: Info,
		Meaning:  "The cache plugin's settings, in words: its TTL caps how long an answer is kept but never extends a record's own TTL (a record with a 60s TTL leaves a 300s cache after 60s); success and denial set the capacity and cap for positive and negative answers; prefetch AMOUNT DURATION PERCENTAGE refreshes a record asked AMOUNT times within DURATION once only PERCENTAGE of its TTL is left.",
		Fix:      "Nothing to fix unless the behaviour is not what was meant; see https://coredns.io/plugins/cache/.",
		Seeds:    []string{"001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "DNS009",
		Area:     "dns",
		Title:    "DNS query logging is off while DNS fails",
		Severity: Info,
		Meaning:  "Neither CoreDNS nor NodeLocal DNS logs queries (no log plugin), so their logs will not show which names fail. Turning it on for the time of the investigation shows every query with its rcode and duration.",
		Fix:      "On AKS add a key log.override with the content 'log' to the coredns-custom ConfigMap and restart CoreDNS; for NodeLocal DNS add 'log' to the server blocks of the node-local-dns ConfigMap. Remove it afterwards: it is verbose.",
		Seeds:    []string{"001_d6f9ca48b5f6b863.txt"},
	},
	{
		Code:     "DNS010",
		Area:     "dns",
		Title:    "Pod DNS settings bypass cluster DNS",
		Severity: Warning,
		Meaning:  "A pod's dnsPolicy or dnsConfig does not send its queries to cluster DNS: a hostNetwork pod with dnsPolicy ClusterFirst silently gets the node's resolv.conf (it needs ClusterFirstWithHostNet), dnsPolicy Default uses the node's resolv.conf, and dnsPolicy None uses only the nameservers in dnsConfig. Such pods cannot resolve Service names.",
		Fix:      "Set dnsPolicy ClusterFirstWithHostNet for hostNetwork pods that need Service names, ClusterFirst otherwise, or include the kube-dns ClusterIP in dnsConfig.nameservers.",
	},
}
