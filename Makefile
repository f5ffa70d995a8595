# triggerd — one entry point for building, running, testing and measuring.
# `make run` starts the daemon on its embedded defaults; `make test` runs
# every check CI runs (format, clippy, doc links, all tests).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run build test lint fmt bench drill deps clean

run:
	$(CARGO) run --release -- serve

build:
	$(CARGO) build --release

## Test-only tools that a fresh machine lacks (the real SMTP server used by
## the email tests). Idempotent; CI calls it through `make test`.
deps:
	@python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --document-private-items --locked --quiet

test: deps lint
	@if command -v cargo-nextest >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --all-targets --locked --no-fail-fast; \
	else \
		$(CARGO) test --workspace --all-targets --locked --no-fail-fast; \
	fi
	$(CARGO) test --workspace --doc --locked

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench --workspace --locked

## The long restart/recovery drill (issue 6): 10 minutes, 100 kills,
## a full disk on a tmpfs (needs root, else skipped), report in
## drill-report.json. Knobs: DRILL_ARGS="--duration 60 --kills 10".
DRILL_ARGS ?= --duration 600 --kills 100 --disk-full --report drill-report.json
drill:
	$(CARGO) build --release --locked
	$(CARGO) run --release --locked -p triggerd-drill -- $(DRILL_ARGS)

clean:
	$(CARGO) clean
