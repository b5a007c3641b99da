# custmart: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
TAGS    ?= duckdb_arrow
BIN     := bin/custmart
DATA    ?= data
# The built-in sample: fixtures for a few thousand customers over 2024-01-01..2025-12-28.
SAMPLE_CUSTOMERS ?= 3000
SAMPLE_SEED      ?= 42
AS_OF            ?= 2025-12-28
BENCH_ARGS       ?=

.PHONY: build run test test-short golden bench lint clean

build:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/custmart

run: build
	$(BIN) fixtures --data-dir $(DATA) --customers $(SAMPLE_CUSTOMERS) --seed $(SAMPLE_SEED) --overwrite
	$(BIN) run --data-dir $(DATA) --as-of $(AS_OF)

# Most test binaries link DuckDB (about 100 MB each): without DWARF, and with
# mold (or else gold) where installed, one links in a third of the CPU time.
TEST_LINKER := $(if $(wildcard /usr/bin/mold),mold,$(if $(wildcard /usr/bin/ld.gold),gold))
TEST_LDFLAGS := -w$(if $(TEST_LINKER), -extldflags=-fuse-ld=$(TEST_LINKER))

test:
	$(GO) test -tags $(TAGS) -ldflags='$(TEST_LDFLAGS)' -timeout 15m ./...

# The unit tests only: PostgreSQL, client-program, crash, child-process and
# large-data tests skip under -short (make test and CI run them all).
test-short:
	$(GO) test -tags $(TAGS) -ldflags='$(TEST_LDFLAGS)' -short -timeout 5m ./...

# Rewrite the golden marts (cmd/cli/testdata/golden) from the fixed fixture; review the diff.
golden:
	$(GO) test -tags $(TAGS) -count=1 ./cmd/cli -run '^TestGoldenMarts$$' -update

bench: build
	$(BIN) bench $(BENCH_ARGS)

lint:
	$(GO) vet -tags $(TAGS) ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

clean:
	rm -rf bin $(DATA)
