// Package dns holds netdoctor's DNS analyzers, hop by hop along pod ->
// NodeLocal DNS (169.254.20.10) -> kube-dns ClusterIP -> a CoreDNS pod ->
// upstream:
//
//   - KubeDNS (DNS001): kube-dns and its CoreDNS pods are serving.
//   - Corefiles (DNS005, DNS008): the coredns, coredns-custom and
//     node-local-dns Corefiles, parsed with CoreDNS's own parser.
//   - Policies (DNS004): NetworkPolicies that block DNS, NodeLocal DNS aware.
//   - PodDNS (DNS010): dnsPolicy and dnsConfig that bypass cluster DNS.
//   - Probes (DNS001, DNS002, DNS003, DNS006, DNS007, DNS009): what the DNS
//     probe (probes/dns.json) saw at each hop.
//
// docs/dns.md lists the codes, what each reads, and examples.
package dns
