#!/usr/bin/env bash
# Installs the Debian packages pulse's tests drive for real. Run as root;
# `make test` calls it. Packages already present are left alone. Prometheus
# and Alertmanager are not Debian's (too old): scripts/real-parts.sh builds
# the releases docker-compose.yml runs.
set -euo pipefail
pkgs=(
  monitoring-plugins-basic   # check_load, check_disk, check_procs
  nagios-nrpe-server         # /etc/nagios/nrpe.cfg and the NRPE daemon (benchmarks)
  nagios-nrpe-plugin         # check_nrpe (benchmarks)
  nginx-light                # a real sysv service
  chromium                   # web view tests
  docker-compose             # docker-compose config
  procps iproute2
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# hello, a small package the apt provider test installs and removes itself,
# only needs to be installable: apt-cache needs package lists for it.
if [ "$(id -u)" = 0 ] && ! apt-cache policy hello 2>/dev/null | grep -q Candidate; then
  apt-get update -qq
fi
