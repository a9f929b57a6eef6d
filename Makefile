# keyrotate — developer entry points. `make test` is what CI runs.
CARGO ?= cargo
FUZZ_SECONDS ?= 600

.PHONY: build test lint fmt bench demo fuzz clean

build:
	$(CARGO) build --release --bin keyrotate

test:
	$(CARGO) test --workspace
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench -p bench

# Coverage-guided fuzzing of the on-disk decoders (cargo-fuzz on the stable
# toolchain: RUSTC_BOOTSTRAP lets it use the sanitizer flags it needs).
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd xlmeta && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode -- -max_total_time=$(FUZZ_SECONDS)

clean:
	$(CARGO) clean
