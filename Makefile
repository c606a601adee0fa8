# Duet's two commands: `make run` and `make test`. See README.md.

GO       ?= go
BIN      := bin/duet
# Where the store lives and which data set fills it: demo (generated) or movielens.
DATA     ?= .data/$(DATASET)
DATASET  ?= demo
ITEMS    ?= 5000
USERS    ?= 1000
SEED     ?= 1
MOVIELENS ?= ../shared/data/ml-latest-small
DEMO_SRC ?= .data/demo-source
# Fuzzing budgets are counts of executions, a few seconds' worth each on two
# cores. A duration races the fuzzing coordinator's own deadline and, on a
# busy machine, fails with "context deadline exceeded" having found nothing.
# FUZZTIME, when set, replaces them all.
FUZZ_FAST  ?= $(or $(FUZZTIME),40000x)
FUZZ_MID   ?= $(or $(FUZZTIME),5000x)
FUZZ_SLOW  ?= $(or $(FUZZTIME),200x)
ADDR     ?= 127.0.0.1:8080
# Demo tokens, for a server on localhost only; set your own anywhere else.
export DUET_EDITOR_TOKEN ?= demo-editor
export DUET_ADMIN_TOKEN  ?= demo-admin
export DUET_EVENTS_TOKEN ?= demo-events

.PHONY: build run test vet fmt-check fuzz bench clean browser postgres weaviate quality simd crash loop e2e

# On amd64 the binary uses Go's simd/archsimd kernels (GOEXPERIMENT=simd);
# the default build has Go assembly on AVX-512 and vek's on AVX2, and other
# architectures the portable loops.
SIMD := $(if $(filter amd64,$(shell $(GO) env GOARCH)),GOEXPERIMENT=simd)

build:
	$(SIMD) $(GO) build -o $(BIN) ./tools/duet

# The store is filled once (the stamp marks a completed import, so that an
# interrupted one is redone instead of half-trusted) and indexed once; then
# the server runs until interrupted.
run: build
ifeq ($(DATASET),demo)
	@test -f $(DEMO_SRC)/items.jsonl -a -f $(DEMO_SRC)/events.csv || \
		$(BIN) gen --out $(DEMO_SRC) --items $(ITEMS) --users $(USERS) --seed $(SEED)
	@test -f $(DATA)/.imported || { rm -rf $(DATA) && \
		$(BIN) import --data $(DATA) --items $(DEMO_SRC)/items.jsonl --events $(DEMO_SRC)/events.csv && \
		touch $(DATA)/.imported; }
else ifeq ($(DATASET),movielens)
	@test -f $(DATA)/.imported || { rm -rf $(DATA) && \
		$(BIN) import --data $(DATA) --movielens $(MOVIELENS) && touch $(DATA)/.imported; }
else
	$(error DATASET must be demo or movielens)
endif
	@test -n "$$(ls $(DATA)/snapshots 2>/dev/null | grep snap-)" || $(BIN) rebuild --data $(DATA)
	@echo "editor token: $$DUET_EDITOR_TOKEN (DUET_EDITOR_TOKEN)"
	$(BIN) serve --data $(DATA) --addr $(ADDR)

# The server's API suite runs again with its index in Weaviate: without
# the race detector, which the embedded run and index/weaviate's own tests
# already apply to the same code.
test: fmt-check vet browser postgres weaviate
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 ./content -store=postgres
	$(GO) test -count=1 ./server -index=weaviate
	$(MAKE) quality
	$(MAKE) e2e
	$(MAKE) simd
	$(MAKE) fuzz

# The packages with numeric kernels pass the same tests on the simd build.
simd:
	$(if $(SIMD),$(SIMD) $(GO) test -count=1 ./internal/vec ./index ./tower,@echo "no simd build on this architecture")

# Recall and learning tests shrink under the race detector; run them once
# at full size without it.
quality:
	$(GO) test -count=1 -run 'Recall|Tombstones|BeatsPop' ./index ./tower/...

# The tests that kill servers and rebuilds restart them many times: run
# them without the race detector, which makes each restart slow.
crash:
	$(GO) test -count=1 -run 'Crash' ./tools/duet

# The closed loops run rebuilds in child processes under simulated
# traffic: without the race detector, as the crash tests.
loop:
	$(GO) test -count=1 -run 'TestLoop|TestServe_Scheduled' ./tools/duet

# The end-to-end tests that drive whole processes — the crash tests, the
# closed loops, the browser, a Weaviate cluster, the benchmarks' loads —
# skip under the race detector, which makes each many times slower while
# the packages they drive are race-tested on their own: run them all,
# once, without it (crash and loop are parts of it).
E2E := Crash|TestLoop|TestServe_Scheduled|TestBrowser|TestCommands_WeaviateIndex|TestBenchHTTP$$|TestBenchSnapshotAndSearch
e2e:
	$(GO) test -count=1 -timeout 30m -run '$(E2E)' ./tools/duet

# The browser tests drive Debian's headless Chromium; install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing chromium for the browser tests"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The store's tests run a private PostgreSQL server from Debian's package
# (initdb and postgres, as the postgres user when run as root); install it
# when missing. The content suite also runs whole against it (above).
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
		echo "installing postgresql for the store's tests"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# The index tests run a three-node Weaviate cluster of weaviate-server built
# with go install at a pinned version into a cache outside the repository,
# once: a cold build takes minutes on two cores.
WEAVIATE_VERSION := $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' internal/weaviatetest/weaviatetest.go)
WEAVIATE_DIR     ?= $(or $(DUET_WEAVIATE_DIR),$(HOME)/.cache/duet/weaviate-$(WEAVIATE_VERSION))
export DUET_WEAVIATE_DIR := $(WEAVIATE_DIR)
weaviate:
	@test -x $(WEAVIATE_DIR)/weaviate-server || { \
		echo "building weaviate-server $(WEAVIATE_VERSION) into $(WEAVIATE_DIR), once (a cold build takes several minutes on 2 cores)"; \
		mkdir -p $(dir $(WEAVIATE_DIR)) && tmp=$$(mktemp -d $(dir $(WEAVIATE_DIR))build-XXXXXX) && \
		(cd $$tmp && GOBIN=$$tmp GOFLAGS= GOEXPERIMENT= CGO_ENABLED=0 $(GO) install github.com/weaviate/weaviate/cmd/weaviate-server@$(WEAVIATE_VERSION)) && \
		mv $$tmp $(WEAVIATE_DIR); }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Each fuzz target briefly; a crash fails the run and leaves its input in testdata/fuzz.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseItemLine$$' -fuzztime=$(FUZZ_FAST) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzParseEventRecord$$' -fuzztime=$(FUZZ_FAST) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzParseMovieLensRecord$$' -fuzztime=$(FUZZ_FAST) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzParseEventJSON$$' -fuzztime=$(FUZZ_FAST) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzSearchRequest$$' -fuzztime=$(FUZZ_MID) ./server
	$(GO) test -run='^$$' -fuzz='^FuzzLoadModel$$' -fuzztime=$(FUZZ_MID) ./tower
	$(GO) test -run='^$$' -fuzz='^FuzzLoadHNSW$$' -fuzztime=$(FUZZ_MID) ./index
	$(GO) test -run='^$$' -fuzz='^FuzzLoadSnapshot$$' -fuzztime=$(FUZZ_SLOW) ./search/snapshot

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

clean:
	rm -rf bin .data
