# Thin wrapper over CMake/ctest. Every target installs missing Debian packages first.
#   make demo    end-to-end demo on the shipped real data (embedded defaults)
#   make test    the full gate, as CI runs it: normal build (CUDA when nvcc exists) and
#                a CPU-only ASan+UBSan build, each with the whole test suite, then the
#                static analysis gate (lint) and each fuzzing harness for 10 s (fuzz-smoke)
#   make check   normal build + tests only (quicker while developing)
#   make lint    static analysis gate: clang-tidy + cppcheck over every C/C++ source
#   make bench   build and run the benchmarks
#   make fuzz    the libFuzzer harnesses (clang, ASan+UBSan), FUZZ_SECONDS each (docs/fuzzing.md)
#   make fuzz-smoke  each harness for 10 s: what CI runs
#   make package build, then the Debian package with cpack (docs/packaging.md)
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

FUZZ_SECONDS ?= 600

.PHONY: all deps build build-asan check check-asan lint lint-shallow test demo bench package fuzz fuzz-smoke clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DQA_CUDA=OFF -DQA_SANITIZE=ON -DQA_BUILD_BENCHMARKS=OFF $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

check-asan: build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

lint: build
	scripts/lint.sh $(BUILD)

# The gate with clang-analyzer in its shallow mode: about 3x faster, a different (not smaller
# or larger) set of paths; for a quick look while fixing. make test runs the full one.
lint-shallow: build
	scripts/lint.sh $(BUILD) --shallow

# The gate CI runs: both suites, then lint and fuzz-smoke, whose analysis and fuzzing build run
# beside the suites at the lowest CPU priority (scripts/test-all.sh).
test: deps
	scripts/test-all.sh $(BUILD) $(ASAN_BUILD) $(JOBS) "$(CMAKE_ARGS)"

demo: build
	scripts/demo.sh $(BUILD)

bench: build
	@scripts/install-deps.sh --bench
	scripts/bench.sh $(BUILD)

package: build
	@cd $(BUILD) && cpack --config CPackConfig.cmake > cpack.log 2>&1 || { cat cpack.log; exit 1; }
	@sed -n 's/^CPack: - package: \(.*\) generated\.$$/package: \1/p' $(BUILD)/cpack.log

fuzz: deps
	scripts/fuzz.sh --seconds $(FUZZ_SECONDS)

fuzz-smoke: deps
	scripts/fuzz.sh --seconds 10

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
