#!/usr/bin/env bash
# Builds the Prometheus and Alertmanager releases that pulse's tests drive,
# the versions docker-compose.yml ships, from their Go modules into
# .cache/realparts/bin (ignored by git). Debian's packages are years older
# (Prometheus 2.42, Alertmanager 0.25) than what users run.
#
#   scripts/real-parts.sh build     build what is missing (make test-deps)
#   scripts/real-parts.sh versions  one line per real part with its version
#
# Each module's source is copied out of the module cache and built as the
# main module, so its own go.mod and go.sum (with their replace and exclude
# directives, which `go install module@version` refuses) pin every
# dependency exactly as the upstream release build does. The web UI's assets
# are not in the Go module (upstream generates them with npm), so this
# Prometheus serves its API but no UI pages; the tests use only the API.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PULSE_REALPARTS:-$root/.cache/realparts}
bin=$cache/bin

# Keep these in step with the images in docker-compose.yml; a test
# (TestRealPartsMatchCompose) fails when they drift. Prometheus 3.x is
# published as the Go module version v0.3MM.P for 3.MM.P.
PROMETHEUS_VERSION=3.5.0
PROMETHEUS_MODULE=github.com/prometheus/prometheus@v0.305.0
ALERTMANAGER_VERSION=0.28.1
ALERTMANAGER_MODULE=github.com/prometheus/alertmanager@v0.28.1

# has BINARY VERSION: the cached binary exists and reports that version.
has() {
  [ -x "$bin/$1" ] && "$bin/$1" --version 2>&1 | grep -q "version $2 "
}

# build NAME VERSION MODULE CMD...: copy the module's source and go install
# its commands into $bin, stamped with the release's version.
build() {
  local name=$1 version=$2 module=$3; shift 3
  local out dir
  echo "test-deps: building $name $version from $module (a few minutes the first time)"
  # Outside any module, so the download touches no go.mod or go.sum.
  out=$(cd / && go mod download -json "$module" 2>&1) || true
  dir=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ]; then
    printf '%s\n' "$out" >&2
    fail "$name $version" "could not download the Go module $module"
  fi
  local src=$cache/src/${module##*/}
  rm -rf "$src"
  mkdir -p "$src" "$bin"
  cp -R "$dir/." "$src"
  chmod -R u+w "$src"
  # Prometheus links every service-discovery plugin (AWS, Azure, GCE,
  # Kubernetes...) through plugins/plugins.go, generated from plugins.yml;
  # upstream documents trimming that list for smaller builds. pulse's
  # configs use static and file targets only (plugins/minimum.go keeps file
  # and http), so the test build leaves the rest out: a third of the
  # compile time on a fresh machine.
  if [ -f "$src/plugins/plugins.go" ] && [ -f "$src/plugins/minimum.go" ]; then
    printf '// Trimmed by pulse'"'"'s scripts/real-parts.sh: no cloud service discovery.\n\npackage plugins\n' >"$src/plugins/plugins.go"
  fi
  local pkg=github.com/prometheus/common/version
  (cd "$src" && GOBIN=$bin GOFLAGS=-mod=readonly CGO_ENABLED=0 go install -trimpath -tags netgo \
    -ldflags "-s -w -X $pkg.Version=$version -X $pkg.Revision=${module##*@} -X $pkg.Branch=release \
      -X $pkg.BuildUser=pulse-test-deps -X $pkg.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" "$@") ||
    fail "$name $version" "go install in $src failed"
  rm -rf "$src"
}

fail() {
  cat >&2 <<EOF
test-deps: $2.
  pulse's tests need $1 (what docker-compose.yml runs), built from its Go
  module through the Go module proxy. Make the proxy reachable (GOPROXY), or
  install Prometheus $PROMETHEUS_VERSION (prometheus, promtool) and
  Alertmanager $ALERTMANAGER_VERSION (alertmanager, amtool) from their
  release archives and copy the four binaries into $bin.
EOF
  exit 1
}

case ${1:-build} in
build)
  if has prometheus "$PROMETHEUS_VERSION" && has promtool "$PROMETHEUS_VERSION"; then :; else
    build prometheus "$PROMETHEUS_VERSION" "$PROMETHEUS_MODULE" ./cmd/prometheus ./cmd/promtool
  fi
  if has alertmanager "$ALERTMANAGER_VERSION" && has amtool "$ALERTMANAGER_VERSION"; then :; else
    build alertmanager "$ALERTMANAGER_VERSION" "$ALERTMANAGER_MODULE" ./cmd/alertmanager ./cmd/amtool
  fi
  for b in prometheus promtool; do has $b "$PROMETHEUS_VERSION" || fail "$b $PROMETHEUS_VERSION" "$bin/$b does not report version $PROMETHEUS_VERSION"; done
  for b in alertmanager amtool; do has $b "$ALERTMANAGER_VERSION" || fail "$b $ALERTMANAGER_VERSION" "$bin/$b does not report version $ALERTMANAGER_VERSION"; done
  ;;
versions)
  # One line per real part the tests use: name, version, where it is.
  ver() { grep -oE '[0-9]+(\.[0-9]+)+[^ ,)]*' | head -n1; }
  line() {
    local name=$1; shift
    if command -v "$1" >/dev/null 2>&1; then
      printf '%-13s %-15s %s\n' "$name" "$("$@" 2>&1 | ver)" "$(command -v "$1")"
    else
      printf '%-13s %-15s %s\n' "$name" missing "$1"
    fi
  }
  line prometheus "$bin/prometheus" --version
  line promtool "$bin/promtool" --version
  line alertmanager "$bin/alertmanager" --version
  line amtool "$bin/amtool" --version
  printf '%-13s %-15s %s\n' nats-server "$(cd "$root" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2 | ver)" "embedded (go.mod)"
  line chromium chromium --version
  line check_load /usr/lib/nagios/plugins/check_load --version
  line nginx nginx -v
  line apt-get apt-get --version
  line go go version
  ;;
*)
  echo "usage: $0 build|versions" >&2
  exit 2
  ;;
esac
