# initbox: a static Go PID 1 for containers.
GO      ?= go
BIN     ?= bin/initbox
VERSION ?= 0.1.0-dev
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# -E: initbox's entry point records the signal state it was started with
# before the Go runtime changes it (issue #14, package signals).
ENTRY   := -E github.com/initbox/initbox/signals.entry
LDFLAGS := -s -w $(ENTRY) -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Unit tests take -race; the black-box tests in tests/ drive the built binary.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v /tests)

.PHONY: all build test unit fuzz blackbox tinitest dockertest realtest vmtest lint demo bench clean

all: build

# One static binary holds every command, within 4.5 MiB (issue #13).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/initbox

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

# Each fuzz target for a fixed number of inputs, about 5 s each here (issue
# #9). A count, not a duration: with -fuzztime DURATION, Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" at the end
# of the time on a busy machine, without any failing input (go.dev/issue/
# 75804, fixed in Go 1.27). FUZZTIME=5m fuzzes every target 5 minutes.
export FUZZTIME
FUZZ = ./signals/:FuzzParse:500000 ./cmd/initbox/:FuzzParseTini:300000 ./pid1/:FuzzParseDuration:300000 \
	./spawn/:FuzzParseArgs:300000 ./spawn/:FuzzParseBind:300000 \
	./config/:FuzzParse:50000 ./config/:FuzzMerge:50000 ./schedule/:FuzzParse:200000 ./config/:FuzzParseEnvFile:250000 ./config/:FuzzSize:250000 ./config/:FuzzCPUMax:250000 \
	./config/:FuzzAddress:250000 ./notify/:FuzzParse:500000 ./control/:FuzzParseRequest:120000 ./control/:FuzzDecodeJSON:120000 \
	./cmd/initbox/:FuzzParseRun:500000
fuzz:
	@set -e; for t in $(FUZZ); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest#*:}; \
		budget=$${FUZZTIME:-$${n}x}; \
		echo "fuzz $$name in $$pkg for $$budget"; \
		grep -qs "^func $$name(" $$pkg*_test.go || { echo "no fuzz target $$name in $$pkg: go test would pass without fuzzing"; exit 1; }; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$budget $$pkg; \
	done

TESTENV = INITBOX_BIN=$(CURDIR)/$(BIN)

# The built binary as a real PID 1 (tests/), under the real Docker Engine
# (tests/docker) and in a real cgroup v2 kernel under qemu (tests/vm).
blackbox: build
	$(TESTENV) $(GO) test -count=1 -timeout 20m ./tests/

# tini's own test suite (test/run_inner_tests.py from Debian's source
# package, fetched at test time) with bin/initbox as tini (issue #14).
tinitest: build
	$(TESTENV) $(GO) test -count=1 -timeout 10m ./tests/tini/

dockertest: build
	$(TESTENV) $(GO) test -count=1 -timeout 10m ./tests/docker/

vmtest: build
	$(TESTENV) $(GO) test -count=1 -timeout 10m ./tests/vm/...

# Real servers from Debian (nginx, PostgreSQL 15, redis) under initbox, as
# examples/stack runs them: as PID 1 of a new PID namespace and in a Docker
# image made from a debootstrap root filesystem, cached in
# /var/cache/initbox-tests (issue #16).
realtest: build
	$(TESTENV) $(GO) test -count=1 -timeout 20m ./tests/realworld/

test: lint unit fuzz blackbox tinitest dockertest realtest vmtest

demo: build
	@sh scripts/demo.sh $(BIN)

# initbox side by side with tini, tini-static, dumb-init, catatonit,
# supervisord, s6 and runit (installed from Debian when missing), in one run
# (issue #8): writes bench/results.md, results.json and results.png. Root;
# about an hour (the 100,000-orphan storms); BENCHFLAGS=-quick for about 2 minutes.
bench: build
	cd bench && $(GO) run . $(BENCHFLAGS)

clean:
	rm -rf bin
