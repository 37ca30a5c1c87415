# FerroCache: every entry point a person or CI uses.
#   make run    install deps, build Release, start a node on :3000 (data in ./data)
#   make test   install deps, build, run every test (C++ and Python)
SHELL := /bin/bash
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
WERROR := $(if $(CI),ON,OFF)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: deps build run test test-cpp test-integration test-python pyenv fuzz bench clean format-check

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

format-check:
	bash deploy/format-check.sh

clean:
	rm -rf $(BUILD_DIR) build-fuzz
