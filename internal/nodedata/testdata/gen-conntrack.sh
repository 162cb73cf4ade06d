#!/bin/sh
# Regenerates conntrack-L-snat.txt and proc-nf_conntrack-snat.txt: real
# connection tracking tables of a throw-away network namespace where a
# "pod" address (10.244.0.5) opens connections that the "node" source-NATs
# to its own address (10.240.0.4): three established connections to
# 20.50.2.3:443, one to 20.50.2.4:443 and two that stay in SYN_SENT because
# 20.50.2.3:8443 drops SYNs. Everything stays inside the namespace.
# Run as root: unshare -n sh gen-conntrack.sh
set -e
ip link set lo up
for a in 10.244.0.5 10.240.0.4 20.50.2.3 20.50.2.4; do ip addr add $a/32 dev lo; done
iptables -t nat -A POSTROUTING -s 10.244.0.5 -d 20.50.2.0/24 -j SNAT --to-source 10.240.0.4
iptables -A INPUT -p tcp --dport 8443 --tcp-flags SYN,ACK SYN -j DROP
python3 - <<'PY'
import socket, time
servers = []
for ip in ("20.50.2.3", "20.50.2.4"):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 443)); s.listen(16); servers.append(s)
conns = []
for ip, n in (("20.50.2.3", 3), ("20.50.2.4", 1)):
    for _ in range(n):
        c = socket.socket(); c.bind(("10.244.0.5", 0)); c.connect((ip, 443)); conns.append(c)
pending = []
for _ in range(2):
    c = socket.socket(); c.bind(("10.244.0.5", 0)); c.setblocking(False)
    try: c.connect(("20.50.2.3", 8443))
    except BlockingIOError: pass
    pending.append(c)
time.sleep(0.3)
import subprocess
open("conntrack-L-snat.txt", "w").write(subprocess.run(["conntrack", "-L"], capture_output=True, text=True).stdout)
try:
    open("proc-nf_conntrack-snat.txt", "w").write(open("/proc/net/nf_conntrack").read())
except OSError as e:
    print("no /proc/net/nf_conntrack:", e)
PY
