# canaryd — build, test, bench, lint.
GO        ?= go
PKGS      ?= ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test test-short bench lint fmt vet staticcheck fuzz demo quality clean parity soak soak-short chaos chaos-short

all: lint test build

## build: a static binary at ./bin/canaryd
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/canaryd ./cmd/canaryd

## test: the whole suite with the race detector (needs redis-server on PATH)
test:
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

## test-short: quick feedback, no race detector
test-short:
	$(GO) test -count=1 -short $(PKGS)

## bench: every benchmark, once, with allocations (BenchmarkSoak in a short form: 1,000 targets,
## 5 + 10 simulated minutes; `make soak` is the full one)
bench:
	CANARYD_SOAK_TARGETS=1000 CANARYD_SOAK_WARMUP=5 CANARYD_SOAK_MINUTES=10 CANARYD_SOAK_EVERY=5 \
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -count 1 $(PKGS)

## soak: the whole daemon, 10,000 targets for two simulated hours after a 90-minute warm-up
## (deploys, promotions, rollback windows, trips and rollbacks); prints the live heap per
## target over time and the owners of its growth, and fails when it grows faster than
## SOAK_MAX_GROWTH bytes per target per simulated minute (the simulated AWS's own growth
## excluded; the per-target Prometheus series are created up front). SOAK_COMPARE=1 also runs the
## pre-fix store side by side; SOAK_PROFILES=dir keeps a heap profile per sample.
## The warm-up must outlast what the daemon keeps for a deploy by design: the watch (20 min)
## and then its evidence series, kept an hour after its last verdict for the charts
## (evidence.Config.Idle), 81 minutes in all (soakRetention in daemon/soak_bench_test.go).
## Until then the number of series held rises with each deploy, and the gate measured that
## filling: a 30-minute warm-up fitted 428 B/target/min, a 75-minute one still rose 5.2 KB
## per target between its first two samples. 90 minutes leaves a sample interval to spare.
SOAK_TARGETS    ?= 10000
SOAK_WARMUP     ?= 90
SOAK_MINUTES    ?= 120
SOAK_TICK       ?= 10s
SOAK_MAX_GROWTH ?= 5
soak:
	CANARYD_SOAK_TARGETS=$(SOAK_TARGETS) CANARYD_SOAK_WARMUP=$(SOAK_WARMUP) CANARYD_SOAK_MINUTES=$(SOAK_MINUTES) \
	CANARYD_SOAK_TICK=$(SOAK_TICK) CANARYD_SOAK_MAX_GROWTH=$(SOAK_MAX_GROWTH) CANARYD_SOAK_COMPARE=$(SOAK_COMPARE) \
	CANARYD_SOAK_PROFILES=$(SOAK_PROFILES) \
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkSoak$$' -benchtime 1x -timeout 180m ./daemon

## soak-short: the soak's short form (1,000 targets, 15-minute warm-up, 30 measured minutes)
soak-short:
	$(MAKE) soak SOAK_TARGETS=1000 SOAK_WARMUP=15 SOAK_MINUTES=30 SOAK_MAX_GROWTH=0

## parity: replay against the real daemon on 300 generated scenarios (the contract that replay is a faithful backtest)
parity:
	$(GO) test -count=1 -run TestReplayAgreesWithTheDaemon ./daemon -parity 300

## chaos: canaryd attacked as production would attack it (chaos/README.md): N=20 trials of
## each SIGKILL experiment, 5 of the others; prints the table.
## e.g. make chaos CHAOS_FLAGS='-chaos.seed 42 -chaos.known -run TestKill'
CHAOS_FLAGS ?=
chaos:
	cd chaos && $(GO) test -count=1 -timeout 30m -chaos -chaos.n 20 -chaos.m 5 $(CHAOS_FLAGS)

## chaos-short: every chaos experiment with a few trials, canaryd built with -race (CI, about 2 minutes)
chaos-short:
	cd chaos && $(GO) test -count=1 -timeout 10m -chaos -chaos.race $(CHAOS_FLAGS)

## fuzz: a short fuzz run of the config loader
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./config/

## lint: gofmt, go vet, staticcheck
lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

## quality: the labelled quality benchmark on the report seeds (quality/README.md);
## e.g. make quality QUALITY_FLAGS='-v -kinds bad/'
quality:
	$(GO) run ./quality/cmd/quality -config config.toml $(QUALITY_FLAGS)

## demo: the whole story offline in under a minute
demo:
	$(GO) run ./cmd/canaryd demo

clean:
	rm -rf bin
