# pkgserver — a git-native package server for KRM packages.
#
#   make run    build and run pkgserver with its embedded defaults
#   make test   everything CI checks: gofmt, go vet, staticcheck, go test -race
#   make bench  the benchmarks of test/bench (results go to BENCHMARKS.md by hand)

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
BIN         := bin/pkgserver
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test fmt fmt-check vet lint staticcheck unit fuzz bench generate clean
.PHONY: e2e-kubectl ui-assets ui-screenshots

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/pkgserver
	$(GO) build -o bin/pkgserver-hook ./cmd/pkgserver-hook

# run starts the server with its defaults: data in .pkgserver, the API on
# http://127.0.0.1:7007 (PKGSERVER_DATA, PKGSERVER_HTTP to change them).
run: build
	./$(BIN) serve

test: fmt-check vet staticcheck unit fuzz

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

lint: vet staticcheck

unit:
	$(GO) test -race ./...

# The fuzz targets run briefly on their seed corpus plus a few seconds of
# 3,000 new inputs each; `go test -fuzz` takes one target at a time.
# A count of executions, not a duration: with a duration, Go's fuzzing
# coordinator can fail at the deadline with "context deadline exceeded" and no
# finding when the machine is busy (golang/go#75804). 3000 runs take about 5 s
# here.
FUZZTIME ?= 3000x
fuzz:
	$(GO) test ./internal/krm -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/krm -run '^$$' -fuzz '^FuzzParseKptfile$$' -fuzztime $(FUZZTIME)
	$(GO) test ./webhooks/payload -run '^$$' -fuzz '^FuzzParseGitHub$$' -fuzztime $(FUZZTIME)
	$(GO) test ./webhooks/payload -run '^$$' -fuzz '^FuzzParseGitLab$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/krm -run '^$$' -fuzz '^FuzzValidName$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/krm -run '^$$' -fuzz '^FuzzResolveLink$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/selector -run '^$$' -fuzz '^FuzzLabels$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/selector -run '^$$' -fuzz '^FuzzFields$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/gitserver/sshcommand -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/revision -run '^$$' -fuzz '^FuzzParseRef$$' -fuzztime $(FUZZTIME)

# e2e-kubectl runs the real kubectl, built from the k8s.io/kubectl module its
# own module pins (test/kubectl, kept out of the main module's dependencies),
# against a server over TLS. Building kubectl takes about 5 minutes cold.
e2e-kubectl:
	cd test/kubectl && $(GO) test -count=1 -timeout 30m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bash test/bench/validate.sh
	bash test/bench/memory.sh
	bash test/bench/index.sh
	bash test/bench/serve.sh
	bash test/bench/push.sh
	bash test/bench/webhook.sh
	bash test/bench/approve.sh
	bash test/bench/render.sh
	bash test/bench/scaleout.sh
	bash test/bench/ui.sh

generate:
	$(GO) run ./internal/schema/gen

# ui-assets refreshes the web UI's third-party assets (htmx) from the npm
# registry at their pinned versions, checked against the registry's
# integrity hashes; the binary embeds what is committed.
ui-assets:
	bash internal/ui/update-assets.sh

# ui-screenshots refreshes the pictures of docs/ui.md: the browser test that
# takes them in every run writes them to docs/ui (needs chromium).
ui-screenshots:
	mkdir -p docs/ui
	PKGSERVER_UI_SCREENSHOTS=$(CURDIR)/docs/ui PKGSERVER_REQUIRE_CHROMIUM=1 $(GO) test -count=1 -run '^TestScreenshots$$' ./internal/ui

clean:
	rm -rf bin test/bench/_out
