# gatewaykit make targets. `make test` is the README's test command; it
# installs what the tests need on a fresh Debian machine.

GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

# Debian packages the tests need: real servers the tests start themselves.
TEST_PKGS := redis-server

.PHONY: test deps vet bench bench-peers quickstart fmt

test: deps vet
	$(GO) test -race -count=1 -timeout 15m ./...

deps:
	@missing=""; \
	for p in $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

quickstart:
	$(GO) run ./examples/quickstart

# Go benchmarks (allocations reported); see BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# The loopback peer harness: our gateway beside nginx, haproxy, caddy and the
# tuned httputil proxy. Installs the peers (Debian packages) when missing.
BENCH_DIR ?= ../shared/bench
BENCH_ARGS ?= --mode all --rounds 3 --duration 10
CHAIN ?= bare
bench-peers:
	@command -v nginx >/dev/null && command -v haproxy >/dev/null && command -v caddy >/dev/null && command -v wrk >/dev/null || $(BENCH_DIR)/setup.sh
	$(GO) build -o bin/benchgw ./bench/gateway
	GATEWAY_CMD='exec $(CURDIR)/bin/benchgw -listen 127.0.0.1:$$PORT -upstream $$UPSTREAM_ADDR -chain $(CHAIN)' \
	GATEWAY_NAME=gatewaykit-$(CHAIN) $(BENCH_DIR)/run.sh $(BENCH_ARGS)
