# atlassian-audit-collector: every target installs what it needs the first time.
.PHONY: demo test build build-host lint invoke tools clean

CARGO ?= cargo
VENV := .venv/bin

## demo: the collector against the built-in simulated organization, into ./demo-output
demo:
	$(CARGO) run --quiet --bin atlassian-audit -- demo --out-dir demo-output

## test: the whole suite (pinned tools into .venv, moto, fmt, clippy, tests, cargo-lambda invoke)
test:
	scripts/test.sh

## tools: the pinned Python tools (moto, cargo-lambda) into .venv
tools:
	scripts/tools.sh

## build: release build of the Lambda with cargo-lambda (arm64 when that target is installed)
build: tools
	@if rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then \
	  PATH="$(CURDIR)/$(VENV):$$PATH" XDG_CACHE_HOME="$(CURDIR)/target/cache" $(VENV)/cargo-lambda lambda build --release --arm64 --bin atlassian-audit-lambda; \
	else \
	  echo "aarch64-unknown-linux-gnu is not installed (rustup target add aarch64-unknown-linux-gnu): building for this host's architecture"; \
	  PATH="$(CURDIR)/$(VENV):$$PATH" XDG_CACHE_HOME="$(CURDIR)/target/cache" $(VENV)/cargo-lambda lambda build --release --bin atlassian-audit-lambda; \
	fi

## build-host: plain release build of both binaries
build-host:
	$(CARGO) build --release

## lint: formatting and clippy
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## invoke: the Lambda through `cargo lambda watch` + `invoke` with events/, against the simulated org and moto
invoke: tools
	@set -e; eval "$$(scripts/moto.sh start)"; trap 'scripts/moto.sh stop' EXIT; scripts/lambda-invoke.sh

clean:
	rm -rf target demo-output .venv
