# initbox: a static Go PID 1 for containers.
GO      ?= go
BIN     ?= bin/initbox
VERSION ?= 0.1.0-dev
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Unit tests take -race; the black-box tests in tests/ drive the built binary.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v /tests)

.PHONY: all build test unit blackbox lint demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/initbox

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

blackbox: build
	INITBOX_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m ./tests/...

test: lint unit blackbox

demo: build
	@sh scripts/demo.sh $(BIN)

clean:
	rm -rf bin
