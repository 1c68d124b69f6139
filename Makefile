# edgeguard — entry points. `make run` serves the embedded quickstart;
# `make test` is what CI runs.

# bash with pipefail, so that `go test ... | tee bench.txt` fails when a
# benchmark does.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -ec

GO       ?= go
BIN      ?= bin/edgeguard
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/edgeguard/edgeguard/proxy.Version=$(VERSION)
FUZZTIME ?= 30s
RATE     ?= 2000
DURATION ?= 10s
MIN_SUCCESS ?= 0.99

.PHONY: build run test test-short race bench fuzz lint loadtest image peerbench peerbench-tools tlsscan clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edgeguard

run: build
	./$(BIN) run

test:
	$(GO) vet ./...
	# -p 1: packages one at a time, so the timing-sensitive end-to-end tests
	# (cluster accuracy, reload under load) do not compete for the 2 cores.
	$(GO) test -count=1 -p 1 -timeout 15m ./...

test-short:
	$(GO) test -short -count=1 ./...

# The whole suite under the race detector (~2 min more than test; not in CI,
# where its slowdown would make the timing-sensitive tests flaky on 2 cores).
race:
	$(GO) test -race -count=1 -p 1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

# Runs every fuzz target for FUZZTIME each (seed corpora live in testdata/fuzz/).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# Fixed-rate load (vegeta) against a gateway it starts with its own config
# (bench/loadtest/config.yaml: no rate limit); fails under MIN_SUCCESS 2xx.
loadtest: build
	$(GO) run ./bench/loadtest -bin $(BIN) -rate $(RATE) -duration $(DURATION) -min-success $(MIN_SUCCESS)

# The container image; `edgeguard version` and /status report VERSION.
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t edgeguard:$(VERSION) -t edgeguard:latest .

peerbench: build peerbench-tools
	EXTRA_TARGETS=bench/peerbench ../shared/peerbench/run.sh

# The reference proxy of bench/peerbench's naive-fwd target.
peerbench-tools:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/naivefwd ./bench/peerbench/naivefwd

# sslscan (Debian package sslscan) against the HTTPS listener with the
# default TLS settings; fails on any weak protocol or cipher and prints the scan.
tlsscan:
	$(GO) test -count=1 -run '^TestSSLScan$$' -v ./proxy

clean:
	rm -rf bin bench.txt
