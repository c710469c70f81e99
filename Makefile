# Hookgate — the one place every workflow starts. `make help` lists the targets.
#
# Node: the project targets Node 24 LTS. When the `node` on PATH is not 24.x, a project-local
# Node 24 is unpacked from the npm registry's node-linux-<arch> package into the cache folder and
# put first on PATH for every recipe, so `make test` works on a machine with any Node.
#
# Cache ($HOOKGATE_CACHE_DIR, default .cache/, git-ignored): that Node and the control-plane
# binaries, each keyed by version, so only the first run on a machine pays for them.

SHELL := /bin/bash
export HOOKGATE_CACHE_DIR ?= $(CURDIR)/.cache
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE_VERSION := 24.22.3
NODE_ARCH := $(subst x86_64,x64,$(subst aarch64,arm64,$(shell uname -m)))
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)
ifeq ($(SYSTEM_NODE_MAJOR),24)
NODE_STAMP :=
else
NODE_DIR := $(HOOKGATE_CACHE_DIR)/node-$(NODE_VERSION)-$(NODE_ARCH)
NODE_STAMP := $(NODE_DIR)/bin/node
# npm finds its global config next to the node binary; keep the machine's (registry, cafile).
export npm_config_globalconfig := $(shell npm config get globalconfig 2>/dev/null)
export PATH := $(NODE_DIR)/bin:$(PATH)
endif

CLUSTER_DIR := test/cluster

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

ifneq ($(NODE_STAMP),)
$(NODE_STAMP):
	@echo "node $(SYSTEM_NODE_MAJOR) on PATH is not 24.x: installing node-linux-$(NODE_ARCH)@$(NODE_VERSION) into $(NODE_DIR)"
	rm -rf $(NODE_DIR).tmp && mkdir -p $(NODE_DIR).tmp
	cd $(NODE_DIR).tmp && npm pack --silent node-linux-$(NODE_ARCH)@$(NODE_VERSION) >/dev/null && tar xzf node-linux-$(NODE_ARCH)-$(NODE_VERSION).tgz
	rm -rf $(NODE_DIR) && mv $(NODE_DIR).tmp/package $(NODE_DIR) && rm -rf $(NODE_DIR).tmp
	$(NODE_DIR)/bin/node --version
endif

node_modules/.package-lock.json: package.json package-lock.json $(NODE_STAMP)
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: node deps
node: $(NODE_STAMP) ## Use Node 24 (project-local when the system one is another version)
	@echo "node $$(node --version) at $$(command -v node)"
deps: node_modules/.package-lock.json ## Install npm dependencies (npm ci)

.PHONY: bootstrap
bootstrap: deps controlplane redis-server iptables helm lua chromium node-images ## Install everything a fresh machine lacks

.PHONY: redis-server
redis-server: ## Install Debian's redis-server when it is missing (needs root)
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "redis-server is missing: run 'sudo apt-get install redis-server'" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }
	@redis-server --version

.PHONY: iptables
iptables: ## Install iptables, nftables, iproute2, openssl for the interception test, when missing (needs root)
	@missing=""; for tool in iptables:iptables iptables-legacy:iptables nft:nftables ip:iproute2 openssl:openssl; do \
	  command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing:$$missing; run 'sudo apt-get install$$missing' (the interception test runs only as root anyway)" >&2; exit 0; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$(echo $$missing | tr ' ' '\n' | sort -u) >/dev/null; fi
	@{ iptables --version && nft --version; } 2>/dev/null || true

.PHONY: controlplane
controlplane: ## Build (once, cached by version) etcd, kube-apiserver, kube-controller-manager and kubectl
	@bash $(CLUSTER_DIR)/build.sh

.PHONY: node-runtime
node-runtime: ## Install Debian's containerd, runc, CNI plugins, buildah and debootstrap for the test node, when missing (needs root)
	@missing=""; for tool in /usr/bin/containerd:containerd /usr/sbin/runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
	  /usr/bin/buildah:buildah /usr/sbin/debootstrap:debootstrap /usr/sbin/conntrack:conntrack; do \
	  [ -e $${tool%%:*} ] || missing="$$missing $${tool##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing:$$missing; run 'sudo apt-get install$$missing' (the node tests run only as root anyway)" >&2; exit 0; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@containerd --version 2>/dev/null || true

.PHONY: node-build
node-build: controlplane node-runtime ## Build (once, cached by version) kubelet, kube-scheduler, kube-proxy and CoreDNS from their Go modules
	@bash $(CLUSTER_DIR)/build-node.sh

# The node tests need the node and the images; a machine that cannot run a node (not root) skips
# both here and the node tests say why.
.PHONY: node-images
node-images: ## As root: the node binaries and the images built here for it (make node-build, make images)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory node-build images; \
	else echo "not root: no test node here (the node tests will say so)"; fi

.PHONY: helm
helm: ## Build (once, cached by version) helm from its Go module, for the chart tests
	@bash test/chart/tool.sh helm

.PHONY: chromium
chromium: ## Install Debian's chromium for the console's browser tests (playwright-core drives it) when missing
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "chromium is missing: run 'sudo apt-get install chromium'" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@chromium --version

.PHONY: lua
lua: ## Install Debian's Lua 5.1 (Argo CD health checks run in gopher-lua, a Lua 5.1) when missing
	@command -v lua5.1 >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "lua5.1 is missing: run 'sudo apt-get install lua5.1'" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lua5.1 >/dev/null; }
	@lua5.1 -v

.PHONY: manifests
manifests: deps helm ## Regenerate deploy/kustomize/hookgate.yaml from the chart (default values)
	node test/chart/manifests.ts

.PHONY: build
build: deps ## Compile the two programs into dist/
	npm run --silent build

.PHONY: generate
generate: deps ## Regenerate the CRDs (crds/, the chart's copy) from the zod schemas in api/
	node api/generate.ts

.PHONY: lint
lint: deps ## Typecheck, lint (typescript-eslint) and check formatting (prettier)
	npx tsc -p tsconfig.json --noEmit
	npx eslint --max-warnings=0 .
	npx prettier --check --log-level warn .
	cd $(CLUSTER_DIR) && test -z "$$(gofmt -l .)" && go vet ./...

.PHONY: format
format: deps ## Rewrite files in the project's format
	npx prettier --write --log-level warn .
	cd $(CLUSTER_DIR) && gofmt -w .

.PHONY: test
test: lint controlplane redis-server iptables helm node-images ## Lint, then run every test against a real control plane and Redis, and on a real node
	@# The node tests run after the others: their pods would load the two cores the timing-sensitive
	@# integration tests (rate limits) share.
	@rm -f $(HOOKGATE_CACHE_DIR)/vitest.json $(HOOKGATE_CACHE_DIR)/vitest-node.json; rc=0; \
	npx vitest run --project unit --project integration --reporter=default --reporter=json --outputFile.json=$(HOOKGATE_CACHE_DIR)/vitest.json || rc=$$?; \
	npx vitest run --project node --reporter=default --reporter=json --outputFile.json=$(HOOKGATE_CACHE_DIR)/vitest-node.json || rc=$$?; \
	node test/summary.ts $(HOOKGATE_CACHE_DIR)/vitest.json $(HOOKGATE_CACHE_DIR)/vitest-node.json || { [ $$rc -ne 0 ] || rc=1; }; exit $$rc

.PHONY: test-unit
test-unit: deps ## Run only the unit tests (no control plane, no Redis)
	npx vitest run --project unit

.PHONY: test-chart
test-chart: deps controlplane helm lua ## Run only the packaging tests: chart, kustomize, images, Argo CD health check
	npx vitest run test/chart test/argocd

.PHONY: bench-egress
bench-egress: build ## Benchmark: direct vs the compiled sidecar vs a bare Node proxy (plain and signing) vs nginx (installs nginx when missing)
	@command -v nginx >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq nginx-light >/dev/null; }
	BENCH_SIDECAR=dist/sidecar/main.js node bench/egress/run.ts

.PHONY: bench-history
bench-history: deps redis-server ## Benchmark: the delivery history's CPU per recorded attempt, no-op vs disk vs Redis store (recorder alone, no HTTP)
	node bench/history/run.ts

.PHONY: bench-ingress
bench-ingress: deps ## Benchmark: verified webhooks/s through the sidecar vs direct to the app
	node bench/ingress/run.ts

.PHONY: bench-fanout
bench-fanout: deps ## Benchmark: deliveries/s for one event fanned out to 100 endpoints vs direct and named sends
	node bench/fanout/run.ts

.PHONY: bench-async
bench-async: deps redis-server ## Benchmark: async accepted/s, delivered/s and 202-to-receipt latency on Redis and on disk, vs sync
	node bench/async/run.ts

.PHONY: bench-memory
bench-memory: build ## Benchmark: the compiled sidecar in a 256Mi memory cgroup under saturating load for 60 s (needs root): RSS, OOM kills, lost deliveries
	node bench/memory/run.ts

.PHONY: bench-operator
bench-operator: deps controlplane ## Benchmark: 1,000 then 10,000 endpoints to Ready, operator peak RSS
	node bench/operator/run.ts

.PHONY: bench-config-push
bench-config-push: deps controlplane ## Benchmark: a WebhookPolicy change to 1,000 stream subscribers + a real sidecar (p50/p99/max, RSS per connection, CPU per change)
	node bench/config-push/run.ts

.PHONY: bench-inject
bench-inject: deps controlplane ## Benchmark: 200 concurrent pod creations through the injector (webhook p50/p99, end to end)
	node bench/inject/run.ts

.PHONY: test-node
test-node: deps controlplane helm node-images ## Run only the node tests (a real kubelet, containerd, the chart from images built here)
	npx vitest run --project node

.PHONY: cluster-up
cluster-up: deps controlplane node-images ## Start a local control plane and (as root) a node, and print the kubeconfig
	@node test/cluster/cli.ts up

.PHONY: cluster-down
cluster-down: deps ## Stop the control plane started by cluster-up
	@node test/cluster/cli.ts down

.PHONY: demo
demo: deps controlplane redis-server helm node-images ## The story on a real node (chart, 2/2 pods, signatures, a rate limit, a circuit); the host-process story where no node can run
	@node demo/node.ts

# Images: with Docker when a Docker engine answers, else with Debian's buildah on base images made
# here (images/build.sh; CI and the development machines have no Docker engine). kind needs Docker.
IMAGE_REGISTRY ?= ghcr.io/hookgate
IMAGE_TAG ?= $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
DOCKER ?= docker
KIND_CLUSTER ?= hookgate
DOCKER_ENGINE := $(shell $(DOCKER) info >/dev/null 2>&1 && echo yes)

.PHONY: images
images: ## Build the operator and sidecar images (ghcr.io/hookgate/{operator,sidecar}:<version>): Docker, or buildah without it
ifeq ($(DOCKER_ENGINE),yes)
	$(DOCKER) build -f images/operator.Dockerfile -t $(IMAGE_REGISTRY)/operator:$(IMAGE_TAG) .
	$(DOCKER) build -f images/sidecar.Dockerfile -t $(IMAGE_REGISTRY)/sidecar:$(IMAGE_TAG) .
else
	@$(MAKE) --no-print-directory node-runtime
	@if [ -x $(HOOKGATE_CACHE_DIR)/node/current/coredns ]; then :; else $(MAKE) --no-print-directory node-build; fi
	@NODE_VERSION=$(NODE_VERSION) IMAGE_REGISTRY=$(IMAGE_REGISTRY) IMAGE_TAG=$(IMAGE_TAG) bash images/build.sh
endif

.PHONY: kind-up
kind-up: ## Create a kind cluster named hookgate (kind built from its Go module; needs Docker)
	@kind=$$(bash test/chart/tool.sh kind); \
	if $$kind get clusters 2>/dev/null | grep -x '$(KIND_CLUSTER)' >/dev/null; then echo "kind cluster $(KIND_CLUSTER) is up"; \
	else $$kind create cluster --name '$(KIND_CLUSTER)' --wait 120s; fi; \
	echo "kubectl context: kind-$(KIND_CLUSTER)"

.PHONY: kind-down
kind-down: ## Delete the kind cluster
	@kind=$$(bash test/chart/tool.sh kind); $$kind delete cluster --name '$(KIND_CLUSTER)'

.PHONY: e2e-kind
e2e-kind: images kind-up helm ## On kind: load the images, install the chart, wait for Ready, smoke-check injection and status
	KIND_CLUSTER='$(KIND_CLUSTER)' IMAGE_REGISTRY='$(IMAGE_REGISTRY)' IMAGE_TAG='$(IMAGE_TAG)' bash test/chart/e2e-kind.sh

.PHONY: clean
clean: ## Remove build output and the running-cluster state (keeps cached binaries and Node)
	rm -rf dist .cache/cluster
