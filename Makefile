# make test is the one test command: it installs what the tests drive for
# real (Debian packages, as root) and runs every test with the race detector.
GO ?= go
PKGS := ./...

.PHONY: build test test-deps vet bench fuzz soak clean

build:
	$(GO) build -o bin/pulse ./cmd/pulse

test-deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

test: test-deps vet
	CI=$${CI:-true} $(GO) test -race -timeout 25m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
