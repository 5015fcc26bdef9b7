# convoy-queue: the two commands of the README, and the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := test

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: redis-server
redis-server:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (Debian package)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: install it (e.g. sudo apt-get install redis-server) and run make again"; exit 1; \
	  fi; \
	fi

.PHONY: deps
deps: node_modules redis-server

.PHONY: test
# First reap what killed test runs left behind (servers whose owner is gone).
# AVA_FLAGS: extra ava options (.ci/run passes --tap).
test: deps
	@npx tsx test/helpers/reap.ts
	npx ava $(AVA_FLAGS)

.PHONY: test-repeat
# Proof that the suite passes on fresh clones: `bash .ci/run` in N fresh clones
# of HEAD, one after the other; LOAD=1 keeps both cores busy meanwhile.
# One line per run, then a summary; exits non-zero if any run failed or left a
# redis-server behind.
test-repeat:
	@bash .ci/test-repeat $(or $(N),3) $(if $(LOAD),--load,)

.PHONY: typecheck
typecheck: node_modules
	npx tsc -p tsconfig.json --noEmit

.PHONY: demo
demo: deps
	npx tsx examples/demo.ts

.PHONY: bench
bench: deps
	npx tsx benchmarks/run.ts $(if $(QUICK),--quick,)

.PHONY: chaos
chaos: deps
	npx tsx chaos/run.ts $(if $(DURATION),--duration $(DURATION),) $(if $(SOAK),--soak,)

.PHONY: build
build: node_modules
	npm run build

.PHONY: clean
clean:
	rm -rf dist coverage
