#!/bin/sh
# Regenerates the nodes/*/ip-route.txt files of testdata/routes/*: real
# iproute2 output (`ip route show table all`) of kubenet-like nodes built
# in throw-away network namespaces. Run as root: sh gen-node-routes.sh
set -e
cd "$(dirname "$0")"
node() { # dir ip podcidr-gateway extra-route-commands...
	dir=$1; ip=$2; gw=$3; shift 3
	mkdir -p "$dir"
	unshare -n sh -e -c "
		ip link set lo up
		ip link add name eth0 type veth peer name eth0p
		ip link set eth0p up
		ip addr add $ip/16 dev eth0
		ip link set eth0 up
		ip link add name cbr0 type bridge
		ip addr add $gw/24 dev cbr0
		ip link set cbr0 up
		ip route add default via 10.224.0.1 dev eth0 proto dhcp src $ip metric 100
		ip route add 168.63.129.16 via 10.224.0.1 dev eth0 proto dhcp src $ip metric 100
		$*
		ip -4 route show table all
	" > "$dir/ip-route.txt"
}
# host-routes: the nodes route pod CIDRs themselves; node 2 has a blackhole
# for node 1's pod CIDR and node 1 lacks node 2's.
R=routes/host-routes/nodes
node $R/aks-nodepool1-22064185-vmss000000 10.224.0.4 10.244.0.1 "ip route add 10.244.1.0/24 via 10.224.0.5 dev eth0; ip route add 10.244.2.0/24 via 10.224.0.6 dev eth0"
node $R/aks-nodepool1-22064185-vmss000001 10.224.0.5 10.244.1.1 "ip route add 10.244.0.0/24 via 10.224.0.4 dev eth0"
node $R/aks-nodepool1-22064185-vmss000002 10.224.0.6 10.244.2.1 "ip route add 10.244.0.0/24 via 10.224.0.4 dev eth0; ip route add blackhole 10.244.1.0/24"
# gateway-routed: AKS kubenet nodes leave pod CIDRs to the VNet's route table.
R=routes/gateway-routed/nodes
node $R/aks-nodepool1-22064185-vmss000000 10.224.0.4 10.244.0.1 ":"
node $R/aks-nodepool1-22064185-vmss000001 10.224.0.5 10.244.1.1 ":"
node $R/aks-nodepool1-22064185-vmss000002 10.224.0.6 10.244.2.1 ":"
