# keyrotate — developer entry points. `make test` is what CI runs.
CARGO ?= cargo
FUZZ_SECONDS ?= 600

.PHONY: build test lint fmt bench bench-e2e bench-encrypt bench-encrypt-compressed demo demo-run fuzz clean

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

# The whole benchmark report (issue 10): criterion micro-benchmarks with
# short settings, then the end-to-end suite, then BENCHMARKS.md and its plots
# in bench/plots/ regenerated from this run's results only (old results are
# removed first). Prints each scenario's ratio to its floor at the end. The
# binaries are built with the `bench` profile (`release` plus line tables,
# also in target/release) so they reuse what criterion's build compiled.
# `--bench '*'` selects the criterion targets only: the library's and the
# binaries' test harnesses would reject criterion's options.
BENCH_ARGS ?= --warm-up-time 1 --measurement-time 2
E2E_ARGS ?=
BENCH_RESULTS ?= target/bench-results
bench:
	rm -rf target/criterion $(BENCH_RESULTS)
	mkdir -p $(BENCH_RESULTS)
	t0=$$(date +%s) && $(CARGO) bench -p bench --bench '*' -- $(BENCH_ARGS) \
		&& echo $$(( $$(date +%s) - t0 )) > $(BENCH_RESULTS)/criterion-seconds
	$(CARGO) build --profile bench -p engine -p bench \
		--bin keyrotate --bin e2e --bin encrypt_bench --bin bench_report
	target/release/e2e --keyrotate target/release/keyrotate --out $(BENCH_RESULTS)/e2e.json $(E2E_ARGS)
	target/release/bench_report --e2e $(BENCH_RESULTS)/e2e.json --criterion target/criterion \
		--out BENCHMARKS.md --plots bench/plots --criterion-args='$(BENCH_ARGS)' \
		--criterion-seconds=$$(cat $(BENCH_RESULTS)/criterion-seconds)

# Plaintext → SSE-KMS throughput vs the I/O floor on a 2 GiB fixture (issue 8).
BENCH_DIR ?= /tmp/keyrotate-encrypt-bench
bench-encrypt:
	$(CARGO) build --release -p bench --bin encrypt_bench
	mkdir -p $(BENCH_DIR) && target/release/encrypt_bench $(BENCH_DIR) 2048

# The same on S2-compressed plaintext objects (text-like data, stored as
# MinIO stores it with compression on; 2 GiB of plaintext) (issue 21).
bench-encrypt-compressed:
	$(CARGO) build --release -p bench --bin encrypt_bench
	mkdir -p $(BENCH_DIR) && target/release/encrypt_bench $(BENCH_DIR) 2048 --compressed

# End-to-end suite (issue 10): rotate / plan / encrypt / KMS-bound rotation
# next to floors measured in the same run, scaling in objects and drives;
# fixtures cached in target/bench-cache. E2E_ARGS=--quick for a smoke run.
E2E_ARGS ?=
bench-e2e: build
	$(CARGO) build --release -p bench --bin e2e --bin encrypt_bench
	target/release/e2e --keyrotate target/release/keyrotate --out target/bench-results/e2e.json $(E2E_ARGS)

# Coverage-guided fuzzing of every decoder of untrusted input (cargo-fuzz on
# the stable toolchain: RUSTC_BOOTSTRAP lets it use the sanitizer flags it
# needs). The fuzz crates (<crate>/fuzz) are outside the workspace, so
# `make test` never builds them. Targets run one after another, FUZZ_SECONDS
# EACH (default 600: all 13 take over two hours); FUZZ_TARGETS picks a subset
# as crate/target or bare target names, e.g.
#   make fuzz FUZZ_TARGETS="dare kms-client/responses" FUZZ_SECONDS=60
# Each target's corpus grows in <crate>/fuzz/corpus/<target> (git-ignored),
# starting from the committed <crate>/fuzz/seeds/<target>; a crash stops the
# run and leaves its input in <crate>/fuzz/artifacts/<target>.
FUZZ_ALL := xlmeta/decode xlmeta/format_json \
	engine/bitrot engine/bucket_meta engine/config_blob engine/dare engine/job \
	engine/names engine/rotate_edit engine/sse_metadata \
	kms-client/config kms-client/responses kms-client/static_key
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_RUN = $(foreach t,$(FUZZ_TARGETS),$(if $(findstring /,$(t)),$(t),$(or $(filter %/$(t),$(FUZZ_ALL)),unknown/$(t))))
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	for t in $(FUZZ_RUN); do \
		test -d $${t%%/*}/fuzz/seeds/$${t#*/} || { echo "no fuzz target $$t (see FUZZ_ALL)"; exit 2; }; \
	done
	set -e; for t in $(FUZZ_RUN); do \
		crate=$${t%%/*}; name=$${t#*/}; \
		echo "== fuzz $$crate/$$name for $(FUZZ_SECONDS)s"; \
		mkdir -p $$crate/fuzz/corpus/$$name; \
		(cd $$crate && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$name fuzz/corpus/$$name fuzz/seeds/$$name \
			-- -max_total_time=$(FUZZ_SECONDS)); \
	done

# End-to-end demo on a throwaway deployment: a 4-drive MinIO-format fixture
# with SSE-KMS and SSE-S3 objects under a static KMS key, then plan, run and
# verify. The key is a fixed demo key: never use it for real data.
DEMO_DIR ?= /tmp/keyrotate-demo
KEYROTATE ?= target/release/keyrotate
export MINIO_KMS_SECRET_KEY ?= demo-key:n5yYMBmIjqAPxdUo/tNLm4691YdkgGCopJsMd07fwSI=

demo: build demo-run

demo-run:
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(KEYROTATE) fixture --out $(DEMO_DIR)/deploy --objects 200 --versions 2 \
		--mix sse-kms=3,sse-s3=1 --multipart-every 10 --locked-every 25
	printf 'keyrotate:\n  apiVersion: v1\n  bucket: fixture\n  encryption: {}\n' > $(DEMO_DIR)/job.yaml
	$(KEYROTATE) verify --drives '$(DEMO_DIR)/deploy/drive{1...4}'
	$(KEYROTATE) plan $(DEMO_DIR)/job.yaml --drives '$(DEMO_DIR)/deploy/drive{1...4}'
	$(KEYROTATE) run $(DEMO_DIR)/job.yaml --drives '$(DEMO_DIR)/deploy/drive{1...4}' \
		--state-dir $(DEMO_DIR)/state
	$(KEYROTATE) status --state-dir $(DEMO_DIR)/state
	$(KEYROTATE) verify --data --drives '$(DEMO_DIR)/deploy/drive{1...4}'

clean:
	$(CARGO) clean
