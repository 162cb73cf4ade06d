#!/bin/sh
# Regenerates ip-route-kubenet.txt: real iproute2 output of a kubenet-like
# node (cbr0 bridge with the node's pod CIDR, eth0 on the node subnet, a
# route to another node's pod CIDR through that node, a blackhole for a
# third, a policy table), built in a throw-away network namespace.
# Run as root: unshare -n sh gen-ip-route.sh > ip-route-kubenet.txt
set -e
ip link set lo up
ip link add name eth0 type veth peer name eth0p
ip link set eth0p up
ip addr add 10.240.0.4/16 dev eth0
ip link set eth0 up
ip link add name cbr0 type bridge
ip addr add 10.244.0.1/24 dev cbr0
ip link set cbr0 up
ip route add default via 10.240.0.1 dev eth0 proto dhcp src 10.240.0.4 metric 100
ip route add 168.63.129.16 via 10.240.0.1 dev eth0 proto dhcp src 10.240.0.4 metric 100
ip route add 10.244.1.0/24 via 10.240.0.5 dev eth0
ip route add blackhole 10.244.2.0/24
ip route add 10.244.3.0/24 proto static nexthop via 10.240.0.7 dev eth0 weight 1 nexthop via 10.240.0.8 dev eth0 weight 1
ip route add default via 10.240.0.9 dev eth0 table 100
ip route show table all
