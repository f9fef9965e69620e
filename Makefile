# atlassian-audit-collector: every target installs the pinned tools it needs the first time
# (Python tools into .venv and .venv-checkov from tools/*.txt).
.PHONY: demo query query-trino query-template check test bench build build-host lint template-check invoke deploy tools clean help

CARGO ?= cargo
# Most integration tests wait (out a crashed run's lease, on the simulated API) rather than
# compute, so six run at once even on 2 cores: the integration target takes about 150 s so,
# 384 s two at a time.
TEST_THREADS ?= 6
VENV := .venv/bin

## demo: the collector against three built-in simulated organizations (one registered source each, the last
## with a 30-day backfill), `run --all-sources` into ./demo-output (`atlassian-audit demo` alone: one org)
demo:
	$(CARGO) run --locked --quiet --bin atlassian-audit -- demo --orgs 3 --out-dir demo-output

## query: the saved queries and the flat view of sql/ over the demo's output, in DuckDB (no AWS); QUERY_ARGS
## go to scripts/query.py (e.g. QUERY_ARGS="--query 08_mass_removals --rows 20")
query:
	@scripts/tools.sh query
	@[ -d demo-output/bucket/logs ] || $(MAKE) --no-print-directory demo
	.venv-query/bin/python scripts/query.py --bucket demo-output/bucket $(QUERY_ARGS)

## query-trino: the tables, the view and every saved query of sql/ on Trino, the engine of Athena's engine 3
## (scripts/trino.sh: the pinned server, downloaded from Maven Central once per machine, on loopback): the
## security scenario's rows exactly, the OCSF twins' (sql/ocsf/) rows equal to their saved queries' over the
## OCSF copy's Parquet tables, and DuckDB's answers over the demo (tests/query/trino.rs;
## docs/querying-on-trino.md)
query-trino:
	@scripts/tools.sh query
	@set -e; eval "$$(scripts/trino.sh start)"; trap 'scripts/trino.sh stop' EXIT; \
	  $(CARGO) test --locked --test query trino -- --nocapture

## query-template: rewrite template.yaml's tables, view and saved queries from sql/ (after editing sql/)
query-template:
	@scripts/tools.sh query
	.venv-query/bin/python scripts/query.py template --write

## check: the fast loop: formatting, clippy and plain `cargo test` (no Python, no emulator; minutes from a warm build)
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	RUST_TEST_THREADS=$(TEST_THREADS) $(CARGO) test --locked --workspace

## help: the targets and what they do
help:
	@grep -E '^## ' Makefile | sed 's/^## /  /'

## test: the whole suite (pinned tools, moto, fmt, clippy, template checks, tests, cargo-lambda invoke)
test:
	TEST_THREADS=$(TEST_THREADS) scripts/test.sh

## bench: every benchmark of BENCHMARKS.md's first table on the commit checked out (about 40 minutes on a quiet
## machine; logs in target/bench/all-<commit>/; BENCH_ROWS="e2e detect" for some rows: benches/all.sh)
bench:
	benches/all.sh $(BENCH_ROWS)

## tools: the pinned Python tools (moto, cargo-lambda, SAM CLI, cfn-lint; checkov, duckdb+sqlglot and the OCSF validators in their own venvs)
## and the pinned Rust tools (cfn-guard, cargo-deny; cargo install --locked, cached per machine)
tools:
	scripts/tools.sh
	scripts/tools.sh checkov
	scripts/tools.sh query
	scripts/tools.sh ocsf
	scripts/tools.sh cargo

## build: release build of the Lambda with cargo-lambda (arm64 when that target is installed, else this host)
build:
	@scripts/tools.sh
	@if rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$$'; then \
	  PATH="$(CURDIR)/$(VENV):$$PATH" XDG_CACHE_HOME="$(CURDIR)/target/cache" $(VENV)/cargo-lambda lambda build --locked --release --arm64 --bin atlassian-audit-lambda; \
	else \
	  echo "aarch64-unknown-linux-gnu is not installed (rustup target add aarch64-unknown-linux-gnu): building for this host's architecture"; \
	  PATH="$(CURDIR)/$(VENV):$$PATH" XDG_CACHE_HOME="$(CURDIR)/target/cache" $(VENV)/cargo-lambda lambda build --locked --release --bin atlassian-audit-lambda; \
	fi

## build-host: plain release build of both binaries
build-host:
	$(CARGO) build --locked --release

## lint: formatting, clippy (the moto-backed test targets too), the dependency policy (cargo-deny) and the
## template's checks (cfn-lint, sam validate --lint, checkov, cfn-guard); `make test` runs it first
lint:
	$(CARGO) fmt --all -- --check
# `--all-targets` leaves out the `test = false` targets (the moto-backed ones): linted on their own
	$(CARGO) clippy --locked --all-targets --quiet -- -D warnings
	$(CARGO) clippy --locked --test aws --test campaign --test query --quiet -- -D warnings
# licences, banned crates and sources (deny.toml); advisories need the RustSec database from
# GitHub, which these machines cannot reach: not run
	@scripts/tools.sh cargo
	.tools/bin/cargo-deny --locked check licenses bans sources
	scripts/template-check.sh

## template-check: cfn-lint, sam validate --lint, the checkov scan and the AWS Guard rules (cfn-guard) of template.yaml only
template-check:
	scripts/template-check.sh

## invoke: the Lambda through `cargo lambda watch` + `invoke` with events/, against the simulated org and moto
invoke:
	@scripts/tools.sh
	@set -e; eval "$$(scripts/moto.sh start)"; trap 'scripts/moto.sh stop' EXIT; scripts/lambda-invoke.sh

## deploy: sam build (arm64) + sam deploy (guided the first time); DEPLOY_ARGS go to sam deploy
deploy:
	scripts/deploy.sh $(DEPLOY_ARGS)

clean:
	rm -rf target demo-output .venv .venv-checkov .venv-query .aws-sam
