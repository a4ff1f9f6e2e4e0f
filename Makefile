# Heartline: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 100000x
TEST_TIMEOUT ?= 30m

.PHONY: all build test vet unit fuzz-smoke chaos-smoke consul test-deps demo bench chaos clean sdk sdk-header

all: build

## build: compile the three processes into .cache/bin/ (git-ignored; the top level stays as agreed)
build:
	@mkdir -p .cache/bin
	$(GO) build -o .cache/bin/ ./gateway ./agent ./site

## sdk: the native app SDK (protocol/client/sdk) for this machine as a C archive (linked into an app, as on iOS)
## and a shared library (loaded behind JNI, as on Android), each with its header, in .cache/sdk/ (git-ignored)
sdk:
	@mkdir -p .cache/sdk
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-archive -o .cache/sdk/libheartline.a ./protocol/client/sdk
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags=-s -buildmode=c-shared -o .cache/sdk/libheartline.so ./protocol/client/sdk
	@ls -l .cache/sdk/libheartline.a .cache/sdk/libheartline.so

## sdk-header: regenerate the committed C header after changing protocol/client/sdk/api.go
sdk-header: sdk
	cp .cache/sdk/libheartline.h protocol/client/sdk/heartline.h

## consul: build (first time, minutes) or reuse the pinned Consul binary
consul:
	@scripts/install-consul.sh >/dev/null

## test-deps: everything the test suite needs that is not a Go module
test-deps:
	@scripts/install-test-deps.sh

## test: the whole suite — vet, race-enabled tests against a real Consul, a short fuzz smoke,
## and a chaos smoke (needs root, as CI has: network namespaces)
test: test-deps vet unit fuzz-smoke chaos-smoke

vet:
	$(GO) vet ./...

unit:
	HEARTLINE_CONSUL_BIN="$$(scripts/install-consul.sh)" $(GO) test -race -timeout $(TEST_TIMEOUT) -count=1 ./...

## fuzz-smoke: run every fuzz target for FUZZTIME executions (seed corpora also run in `unit`)
fuzz-smoke:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz-smoke.sh

## chaos-smoke: a few chaos scenarios at 10k sessions (~5 min, root): a rolling restart with
## drains, a gateway back before anyone noticed, churn; fails on any violation
chaos-smoke:
	@scripts/chaos.sh -sessions 10000 -only steady,fast-restart,rolling-sigterm -report "$${TMPDIR:-/tmp}/heartline-chaos-smoke.md"

## demo: build everything, start a local Consul and the processes, show presence working
demo:
	@scripts/demo.sh

clean:
	rm -rf .cache/bin .demo

## bench: standard benchmark set (< 15 min): benchmarks/out/results.json, benchmarks/RESULTS.md, benchmarks/charts/
bench:
	@scripts/bench.sh

## chaos: fault scenarios + hostile input on a namespace bed (root; ~13 min a run); writes scripts/chaos/REPORT.md
## (CHAOS_ARGS="-runs 3": three runs in a row, each on a fresh bed, all tabulated in the report)
chaos:
	@scripts/chaos.sh $(CHAOS_ARGS)
