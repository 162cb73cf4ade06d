# netdoctor's build, test and doc targets. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go

.PHONY: build test unit e2e docs bench lint lab-build lab-up lab-down ndlab

build:
	$(GO) build -o bin/netdoctor ./cmd/netdoctor
	ln -sf netdoctor bin/kubectl-netdoctor

# unit tests, then (as root) the end-to-end tests against the lab.
test: unit e2e

unit:
	$(GO) vet ./...
	$(GO) test ./...

e2e:
	@if [ "$$(id -u)" != 0 ]; then echo "e2e: skipped: the lab needs root (network namespaces, iptables)"; \
	else bash scripts/deps.sh && bash scripts/lab-build.sh && $(GO) test -tags e2e -count=1 -timeout 60m ./e2e/...; fi

# regenerate docs/findings.md from the catalogue
docs:
	$(GO) run ./cmd/netdoctor explain --list -o markdown > docs/findings.md

bench:
	bash scripts/bench.sh

# the lab (docs/lab.md): pinned binaries, then a running lab for manual work
lab-build:
	bash scripts/lab-build.sh

ndlab:
	$(GO) build -o bin/ndlab ./cmd/ndlab

lab-up: lab-build ndlab build
	bin/ndlab up --netdoctor bin/netdoctor

lab-down: ndlab
	bin/ndlab down
