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
}
