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
FUZZTIME ?= 5s

.PHONY: build run test vet fmt-check fuzz bench clean

build:
	$(GO) build -o $(BIN) ./tools/duet

# The store is filled once; the stamp marks a completed import so that an
# interrupted one is redone instead of half-trusted.
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
	@echo "store ready in $(DATA)"

test: fmt-check vet
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Each fuzz target briefly; a crash fails the run and leaves its input in testdata/fuzz.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseItemLine$$' -fuzztime=$(FUZZTIME) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzParseEventRecord$$' -fuzztime=$(FUZZTIME) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzParseMovieLensRecord$$' -fuzztime=$(FUZZTIME) ./content
	$(GO) test -run='^$$' -fuzz='^FuzzParseEventJSON$$' -fuzztime=$(FUZZTIME) ./content

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

clean:
	rm -rf bin .data
