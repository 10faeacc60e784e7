# Clusternet in Rust — the two commands that matter:
#   make up     local parent + children (real kube-apiservers) with Clusternet installed
#   make test   fmt, clippy, unit tests and the end-to-end suites on fresh real control planes
# See README.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT        := $(abspath .)
OUT         := $(ROOT)/_output
BIN         := $(OUT)/bin
CLUSTERS    ?= 2
# Simulated (KWOK) nodes per child cluster in `make up`; 0 runs no scheduler and no KWOK.
NODES       ?= 3
# The public chart repository of `make up` (deploy/examples/helm names 127.0.0.1:18080).
CHARTS_PORT ?= 18080
CARGO       ?= cargo
GO          ?= go
# Go's build cache lives in ~/.cache/go-build and is reused across runs on one machine:
# the control plane is compiled once, later builds only relink when something changed.
export GOFLAGS := -buildvcs=false
export CLUSTERNET_BIN_DIR := $(BIN)

.PHONY: help
help:
	@echo "make up          start parent + child1..child$(CLUSTERS) locally with Clusternet (CLUSTERS=n for more)"
	@echo "make down        stop everything 'make up' started"
	@echo "make test        fmt check, clippy, unit tests, end-to-end suites (what CI runs)"
	@echo "make bench-proxy  proxied vs direct GET to a child: p50/p99, req/s at 1/16/64 clients"
	@echo "make bench-deploy Subscription created → object in every child: p50/p99 over 100, vs direct"
	@echo "make deny        cargo deny check bans licenses sources (part of make test)"
	@echo "make crds        regenerate deploy/crds from the Rust types"
	@echo "make bench-workloads  100 MiB port-forward and a 10 MiB log: via the hub vs direct to the child"
	@echo "make bench-helm   memory of the controller-manager and hub while 30 of 40 Helm releases keep failing"
	@echo "make bench-fleet  N = 10, 100, 1000 clusters on one hub (BENCH_FLEET_SIZES): registration, steady state, deploy, restart"
	@echo "make controlplane  build the local control plane (etcd + kube-apiserver + controllers) and kubectl"
	@echo "make kwok        build KWOK (simulated nodes and pods for the children)"
	@echo "make helm        build Helm's CLI (local chart repositories and checks in the tests)"
	@echo "make registry    build the OCI registry (distribution) that serves charts as OCI artifacts"
	@echo "make haproxy     install HAProxy (Debian package): the load balancer in front of hub replicas in the HA suite"
	@echo "make soak        the fault suite's workload for FAULTS_SOAK_MINUTES (30) with faults throughout"

# ---------------------------------------------------------------------------------------------
# Prerequisites. CI starts from a clean Debian machine with Go and Rust; nothing else is needed
# beyond what `go` and `cargo` download from their registries.

.PHONY: prereqs
prereqs:
	@command -v $(GO) >/dev/null || { echo "Go is required (go 1.26+): https://go.dev/dl/"; exit 1; }
	@command -v $(CARGO) >/dev/null || { echo "Rust is required (cargo 1.89+): https://rustup.rs"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
# Builds.

# The Kubernetes version comes from test/controlplane/go.mod; it is stamped into the binary the
# way Kubernetes' own release builds do, so /version and `kubectl version` report v1.x.y.
K8S_VERSION = $(shell cd test/controlplane && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
K8S_MINOR   = $(word 2,$(subst ., ,$(K8S_VERSION)))
K8S_LDFLAGS = $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(K8S_VERSION) -X $(pkg).gitMajor=1 -X $(pkg).gitMinor=$(K8S_MINOR) \
	-X $(pkg).gitTreeState=clean -X $(pkg).buildDate=$(shell cd test/controlplane && $(GO) list -m -f '{{.Time.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes))

.PHONY: controlplane
controlplane: prereqs
	@mkdir -p $(BIN)
	@echo "==> building the local control plane $(K8S_VERSION) from Kubernetes' Go modules (first build: ~10-15 min on 2 cores; later: seconds)"
	@cd test/controlplane && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(BIN)/controlplane .
	@ln -sf controlplane $(BIN)/kubectl
	@echo "    $(BIN)/controlplane, $(BIN)/kubectl ($$($(BIN)/kubectl version --client 2>/dev/null | head -1))"

# KWOK (sigs.k8s.io/kwok, its own Go module so its Kubernetes versions do not mix with the
# control plane's): the children's simulated kubelets. Built from the module as published.
.PHONY: kwok
kwok: prereqs
	@mkdir -p $(BIN)
	@echo "==> building KWOK $$(cd test/kwok && $(GO) list -m -f '{{.Version}}' sigs.k8s.io/kwok) (first build: ~5 min on 2 cores; later: seconds)"
	@cd test/kwok && $(GO) build -o $(BIN)/kwok .

# Helm's CLI (helm.sh/helm/v4, its own Go module): packages and indexes the chart fixtures and
# pushes them to the registry. Stamped with its module version as Helm's release builds are.
HELM_VERSION = $(shell cd test/helm && $(GO) list -m -f '{{.Version}}' helm.sh/helm/v4)
.PHONY: helm
helm: prereqs
	@mkdir -p $(BIN)
	@echo "==> building Helm $(HELM_VERSION) (first build: minutes on 2 cores; later: seconds)"
	@cd test/helm && $(GO) build -ldflags "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION) -X helm.sh/helm/v4/internal/version.gitTreeState=clean" -o $(BIN)/helm helm.sh/helm/v4/cmd/helm

# The OCI registry (github.com/distribution/distribution/v3, its own Go module) serving the
# chart fixtures as OCI artifacts.
REGISTRY_VERSION = $(shell cd test/registry && $(GO) list -m -f '{{.Version}}' github.com/distribution/distribution/v3)
.PHONY: registry
registry: prereqs
	@mkdir -p $(BIN)
	@echo "==> building the OCI registry (distribution) $(REGISTRY_VERSION) (first build: minutes on 2 cores; later: seconds)"
	@cd test/registry && $(GO) build -ldflags "-X github.com/distribution/distribution/v3/version.version=$(REGISTRY_VERSION)" -o $(BIN)/registry github.com/distribution/distribution/v3/cmd/registry

# HAProxy stands in for the hub's Service in the HA suite (3 replicas behind one address). From
# Debian's packages; nothing is done when it is already installed.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: haproxy
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
		echo "==> installing HAProxy from Debian packages"; \
		$(SUDO) apt-get install -y -qq haproxy >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq haproxy; }; }

.PHONY: build
build: prereqs
	@echo "==> building the Rust workspace"
	@$(CARGO) build --workspace --bins

.PHONY: crds
crds:
	@$(CARGO) run -q -p clusternet-apis --bin crdgen -- deploy/crds

# ---------------------------------------------------------------------------------------------
# The local environment.

.PHONY: up
up: controlplane kwok helm registry haproxy build
	@ln -sf $(ROOT)/target/debug/kubectl-clusternet $(BIN)/kubectl-clusternet
	@$(CARGO) run -q -p clusternet-test-support --bin clusternet-local -- up --clusters $(CLUSTERS) --nodes $(NODES) --charts-port $(CHARTS_PORT)

.PHONY: down
down:
	@if [ -x target/debug/clusternet-local ]; then target/debug/clusternet-local down; \
	 else $(CARGO) run -q -p clusternet-test-support --bin clusternet-local -- down; fi

# ---------------------------------------------------------------------------------------------
# Tests: everything CI runs.

.PHONY: test
test: controlplane kwok helm registry haproxy
	@echo "==> cargo fmt --check"
	@$(CARGO) fmt --all -- --check
	@echo "==> cargo clippy (warnings are errors)"
	@$(CARGO) clippy --workspace --all-targets -- -D warnings
	@$(MAKE) --no-print-directory deny
	@echo "==> building binaries for the end-to-end suites"
	@$(CARGO) build --workspace --bins
	@echo "==> unit and end-to-end tests (real control planes)"
	@$(CARGO) test --workspace --no-fail-fast

# cargo-deny (bans, licenses, sources; deny.toml), built from crates.io once and kept in
# _output/tools. Advisories are not checked: their database cannot be fetched from here.
CARGO_DENY_VERSION := 0.20.2
TOOLS := $(OUT)/tools
.PHONY: deny
deny: prereqs
	@if ! $(TOOLS)/bin/cargo-deny --version 2>/dev/null | grep -q " $(CARGO_DENY_VERSION)$$"; then \
		echo "==> installing cargo-deny $(CARGO_DENY_VERSION) from crates.io (first run: a few minutes on 2 cores; later: cached in _output/tools)"; \
		$(CARGO) install cargo-deny --version $(CARGO_DENY_VERSION) --locked --root $(TOOLS) --quiet; \
	fi
	@echo "==> cargo deny check bans licenses sources"
	@$(TOOLS)/bin/cargo-deny --log-level error check bans licenses sources

# A long run of the fault suite's workload with faults injected throughout (not part of make
# test): FAULTS_SOAK_MINUTES=30 make soak. Prints the hub's and agents' memory at start and end.
FAULTS_SOAK_MINUTES ?= 30
.PHONY: soak
soak: controlplane kwok helm registry
	@$(CARGO) build --workspace --bins
	@FAULTS_SOAK_MINUTES=$(FAULTS_SOAK_MINUTES) $(CARGO) test -p clusternet-e2e --test faults -- --ignored soak --nocapture

# ---------------------------------------------------------------------------------------------
# Benchmarks: release builds, ratios against the direct path measured in the same run.

.PHONY: bench-proxy
bench-proxy: controlplane
	@$(CARGO) build --release --bins
	@$(CARGO) bench -p clusternet-e2e --bench proxy

.PHONY: bench-deploy
bench-deploy: controlplane
	@$(CARGO) build --release --bins
	@$(CARGO) bench -p clusternet-e2e --bench deploy

.PHONY: bench-workloads
bench-workloads: controlplane kwok
	@$(CARGO) build --release --bins
	@$(CARGO) bench -p clusternet-e2e --bench workloads

.PHONY: bench-helm
bench-helm: controlplane helm
	@$(CARGO) build --release --bins
	@$(CARGO) bench -p clusternet-e2e --bench helm

.PHONY: bench-fleet
bench-fleet: controlplane
	@$(CARGO) build --release --bins
	@BENCH_COMMIT=$$(git rev-parse --short HEAD) BENCH_FLEET_REPORT=$${BENCH_FLEET_REPORT:-docs/fleet-benchmark.md} $(CARGO) bench -p clusternet-e2e --bench fleet

.PHONY: clean
clean: down
	rm -rf $(OUT)

# ---------------------------------------------------------------------------------------------
# Fuzzing (nightly + cargo-fuzz; not part of make test, which replays the seeds and 20,000
# deterministic mutations on stable). FUZZ_SECONDS=600 make fuzz for a longer run.

FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@mkdir -p _output/fuzz/request
	@cd apiserver/fuzz && cargo +nightly fuzz run request ../../_output/fuzz/request corpus/request -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 2>&1 | tail -20
