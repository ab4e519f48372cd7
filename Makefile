# Thin wrapper over CMake/ctest. Every target installs missing Debian packages first.
#   make demo    end-to-end demo on the shipped real data (embedded defaults)
#   make test    the full gate, as CI runs it: normal build (CUDA when nvcc exists) and
#                a CPU-only ASan+UBSan build, each with the whole test suite
#   make check   normal build + tests only (quicker while developing)
#   make bench   build and run the benchmarks
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build build-asan check check-asan test demo bench clean

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

test: check check-asan

demo: build
	scripts/demo.sh $(BUILD)

bench: build
	@scripts/install-deps.sh --bench
	scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
