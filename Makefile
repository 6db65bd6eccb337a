# make test is the one test command: it installs what the tests drive for
# real (Debian packages, as root) and runs every test with the race detector.
GO ?= go
PKGS := ./...

.PHONY: build build-agent test test-deps real-parts vet bench fuzz soak clean

# The version, commit and commit date `pulse version` and pulse_build_info
# report; a build outside a git checkout falls back to Go's build info.
BUILDINFO := github.com/pulseops/pulse/internal/buildinfo
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X $(BUILDINFO).ldVersion=$(VERSION) \
	-X $(BUILDINFO).ldRevision=$(shell git rev-parse HEAD 2>/dev/null) \
	-X $(BUILDINFO).ldDate=$(shell git log -1 --format=%cI 2>/dev/null)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/pulse ./cmd/pulse

# build-agent is pulse for the nodes: the agent (and keys) only, a third of
# the full binary's size and 4-5 MB less resident memory (BENCHMARKS.md).
build-agent:
	$(GO) build -tags agentonly -ldflags "$(LDFLAGS)" -o bin/agent/pulse ./cmd/pulse

# test-deps installs the Debian packages the tests drive and builds the
# Prometheus and Alertmanager releases docker-compose.yml runs into
# .cache/realparts/bin (minutes the first time, then cached).
test-deps:
	./scripts/test-deps.sh
	./scripts/real-parts.sh build

# real-parts prints one line per real part the tests use, with its version.
real-parts:
	@./scripts/real-parts.sh versions

# vet runs go vet and staticcheck on both builds. staticcheck is built from
# the module proxy at a pinned version (v0.8.2 is release 2026.2.2) into
# .cache/tools the first time.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := .cache/tools/staticcheck-$(STATICCHECK_VERSION)
vet: $(STATICCHECK)
	$(GO) vet $(PKGS)
	$(GO) vet -tags agentonly ./cmd/pulse
	$(STATICCHECK) $(PKGS)
	$(STATICCHECK) -tags agentonly ./cmd/pulse

$(STATICCHECK):
	mkdir -p .cache/tools
	GOBIN=$(CURDIR)/.cache/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv .cache/tools/staticcheck $@

test: test-deps vet
	CI=$${CI:-true} $(GO) test -race -timeout 25m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

# fuzz runs every Fuzz* target in the repository for FUZZTIME each. go test
# -fuzz takes one target at a time, so each package's test binary is built
# once with fuzzing instrumentation and run once per target, in the package
# directory so testdata/fuzz seeds are read and new crashers are written
# there. `make test` runs every target for FUZZTIME_TEST after the unit
# tests, so every parser of outside input meets fresh input on every run.
# It is a count of inputs, not a duration: a short -fuzztime duration can end
# mid-run and fail with "context deadline exceeded" although nothing crashed.
FUZZTIME ?= 60s
FUZZTIME_TEST ?= 5000x
fuzz:
	@set -e; bin=$$(mktemp -d); trap 'rm -rf $$bin' EXIT; cache=$$($(GO) env GOCACHE)/fuzz; \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		pkg=$$($(GO) list $$dir); \
		$(GO) test -c -fuzz . -o $$bin/fuzz.test $$dir; \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			(cd $$dir && $$bin/fuzz.test -test.run '^$$' -test.fuzz "^$$target\$$" -test.fuzztime $(FUZZTIME) \
				-test.fuzzcachedir $$cache/$$pkg > $$bin/log 2>&1) || { cat $$bin/log; exit 1; }; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin

# soak is not part of make test: 1,000 agents for 30 minutes (override with
# PULSE_SOAK_DURATION=3m etc.), asserting flat memory and no lost results.
soak:
	PULSE_SOAK=1 $(GO) test -race=false -run '^TestSoak$$' -timeout 60m -v ./faults/
