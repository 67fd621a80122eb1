# Thin wrapper over CMake: install Debian dependencies, configure, build, run, test, bench.
#   make run    install what is missing, build, run the offline demo (examples/demo.lua)
#   make test   install what is missing, build, run the whole ctest suite
#   make bench  build and run every benchmark (bench/run.sh), printing one table
#   make test-asan / test-tsan   the suite under clang ASan+UBSan / ThreadSanitizer
#   make format-check   the C sources and headers against .clang-format (CI runs it first)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

# Debian 12 packages the build, the tests and the benchmarks need.
DEB_PACKAGES = build-essential cmake pkg-config clang libclang-rt-14-dev \
	liblua5.4-dev lua5.4 libuv1-dev libcurl4-openssl-dev libsqlite3-dev libsodium-dev \
	libssl-dev libmsgpack-dev libjansson-dev libcmocka-dev \
	python3 python3-websockets python3-nacl lua-cjson hyperfine valgrind openssl nginx wrk \
	clang-format

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps configure build run test bench test-asan test-tsan format-check clean

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	AB_BIN=$(BUILD)/agent-block examples/run.sh

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 300

bench: build
	BUILD=$(BUILD) bench/run.sh

test-asan:
	$(MAKE) test BUILD=build-asan CMAKE_ARGS="-DCMAKE_C_COMPILER=clang -DAB_ASAN=ON $(CMAKE_ARGS)"

test-tsan:
	$(MAKE) test BUILD=build-tsan CMAKE_ARGS="-DCMAKE_C_COMPILER=clang -DAB_TSAN=ON $(CMAKE_ARGS)"

# Every tracked C source and header of the project's own code against .clang-format (clang-format
# 14, Debian 12's); fails listing each violation. src/ include/ tests/ bench/ examples/ tools/.
FORMAT_DIRS = src include tests bench examples tools
format-check: deps
	@files=$$(git ls-files -- $(foreach d,$(FORMAT_DIRS),'$(d)/*.c' '$(d)/*.h')); \
	echo "format-check: $$(echo $$files | wc -w) files"; \
	clang-format --dry-run --Werror $$files

clean:
	rm -rf build build-asan build-tsan
