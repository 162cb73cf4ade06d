#!/usr/bin/env bash
# deps.sh installs the Debian packages netdoctor's build, lab and e2e tests need.
# Idempotent: apt is only touched when a package is missing. Run as root.
# Keep ONE list below; append package names, do not add a second list.
set -euo pipefail

PACKAGES=(
  iptables
  conntrack
  iproute2
  procps
  kmod
  musl-tools
  libc6-dev
  gcc
  dnsperf
  dnsutils
  curl
  netcat-openbsd
  iputils-ping
)

# Packages that may be missing from some Debian releases: installed when available.
OPTIONAL=(dnsperf)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing ${missing[*]}; run as root to install" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
required=()
for p in "${missing[@]}"; do
  opt=0
  for o in "${OPTIONAL[@]}"; do [ "$p" = "$o" ] && opt=1; done
  if [ $opt -eq 1 ]; then
    apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "deps: optional package $p not available, skipped" >&2
  else
    required+=("$p")
  fi
done
if [ ${#required[@]} -gt 0 ]; then
  apt-get install -y -qq "${required[@]}"
fi
echo "deps: installed ${missing[*]}"
