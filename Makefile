# FerroCache: every entry point a person or CI uses.
#   make run    install deps, build Release, start a node on :3000 (data in ./data)
#   make test   install deps, build, run every test (C++ and Python)
#   make image  build the ferrocache:latest Docker image (docs/deploy.md)
#   make cluster-test  the 3-node docker-compose.yml as containers, under faults
SHELL := /bin/bash
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
WERROR := $(if $(CI),ON,OFF)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: deps build run test test-cpp test-integration test-python pyenv fuzz bench bench-scale bench-cluster sim clean format-check \
	base-image image image-test cluster-test monitoring-image monitoring-check

deps:
	bash deploy/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRO_WERROR=$(WERROR)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	mkdir -p data
	FERROCACHE_DATA_DIR=$${FERROCACHE_DATA_DIR:-./data} ./$(BUILD_DIR)/ferrocache

pyenv: deps
	bash deploy/python-env.sh $(VENV)

test-cpp: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-integration: build pyenv
	FERROCACHE_BIN=$(abspath $(BUILD_DIR)/ferrocache) $(PY) -m pytest -q tests/integration

test-python: build pyenv
	FERROCACHE_BIN=$(abspath $(BUILD_DIR)/ferrocache) $(PY) -m pytest -q clients/python/tests

test: build pyenv
	bash deploy/run-tests.sh $(BUILD_DIR) $(VENV)

fuzz: deps
	bash deploy/run-fuzz.sh $${FUZZ_SECONDS:-60}

bench: build pyenv
	bash bench/run-all.sh $(BUILD_DIR) $(VENV)

# Issue 13's scale run (docs/benchmarks.md, "Scale"): one namespace of ENTRIES x 384 filled over
# HTTP, then memory, write amplification, restarts and query latency against the in-process floors.
# Takes about an hour at 1M on a 2-core machine; run-all.sh stays short.
ENTRIES ?= 1000000
bench-scale: build
	SCALE_ENTRIES=$(ENTRIES) bash bench/run-scale.sh $(BUILD_DIR) $(BUILD_DIR)/scale-$(ENTRIES).jsonl
	python3 bench/scale_report.py $(BUILD_DIR)/scale-$(ENTRIES).jsonl

# Long simulation sweeps (docs/simulation.md): make sim SEEDS=10000 [PROFILE=swarm] [NODES=5] [SIM_FLAGS=--crashes]
# [SIM_JOBS=2: worker processes]
SEEDS ?= 1000
PROFILE ?= lite
NODES ?= 3
SIM_FLAGS ?=
SIM_JOBS ?= 2
sim: build
	set -o pipefail; ./$(BUILD_DIR)/ferrocache-sim --seeds 1..$(SEEDS) --profile $(PROFILE) --nodes $(NODES) --seconds 10 --jobs $(SIM_JOBS) $(SIM_FLAGS) | grep -E "FAILED|seeds,"

# What the cluster costs a request against a single node (docs/benchmarks.md, "Cluster").
bench-cluster: build
	python3 bench/cluster/cluster_bench.py $(BUILD_DIR) --entries 2000 --rounds 3 --out $(BUILD_DIR)/cluster-bench.json

# Docker: the base image is built locally from Debian's packages when it
# cannot be pulled (deploy/docker/make-base-image.sh does nothing when present).
IMAGE ?= ferrocache:latest
BASE_IMAGE ?= debian:bookworm-slim

base-image:
	bash deploy/docker/make-base-image.sh $(BASE_IMAGE)

image: base-image
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg JOBS=$(JOBS) -t $(IMAGE) .
	@docker image ls $(IMAGE) --format 'image {{.Repository}}:{{.Tag}} {{.Size}}'

# Runs the image as a container (health, insert/query, clean stop, restart,
# backup copy) and the single-node compose file with the monitoring overlay.
# Not part of `make test` (it builds an image and starts containers).
image-test: image monitoring-image pyenv
	FERROCACHE_IMAGE=$(IMAGE) $(PY) -m pytest -q -s -p no:cacheprovider tests/docker

# The 3-node docker-compose.yml (and its TLS overlay) as containers under
# faults: docker kill under write load, a node cut off the network, a rolling
# restart, a node of another CA (tests/container/cluster_test.py, standard
# library Python; docs/deploy.md). Not part of `make test`; .ci/run runs it
# where a Docker engine answers. CLUSTER_TEST_ARGS="--steps ab" runs a subset.
cluster-test: image
	python3 tests/container/cluster_test.py $(CLUSTER_TEST_ARGS)

monitoring-image: base-image
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t ferrocache-prometheus:latest \
	  -f deploy/monitoring/prometheus.Dockerfile deploy/monitoring

# promtool checks of the Prometheus configuration and alert rules (also run
# by `make test`, in tests/integration/test_monitoring.py).
monitoring-check: deps
	bash deploy/monitoring/check.sh

format-check:
	bash deploy/format-check.sh

clean:
	rm -rf $(BUILD_DIR) build-fuzz
