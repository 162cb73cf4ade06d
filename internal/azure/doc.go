// Package azure models the Azure resources on a cluster's outbound path, as
// `az ... -o json` prints them and as the Azure Resource Manager REST API (and
// so the Azure SDK for Go) serialises them, and holds the arithmetic netdoctor
// applies to them:
//
//   - SNAT capacity of the AKS load balancer and of a NAT gateway (snat.go),
//     including the allocation check AKS applies (InvalidLoadBalancerProfileAllocatedOutboundPorts);
//   - the effective outbound verdict of network security groups for a flow,
//     with the deciding rule (nsg.go);
//   - longest-prefix route lookup over a subnet's route table (route.go);
//   - Azure Monitor metrics of the load balancer (metrics.go);
//   - live collection through the Azure SDK (live.go).
//
// The az CLI flattens each resource's "properties" object into the resource;
// the REST API nests it. Decode accepts both, so a bundle may hold either.
package azure
