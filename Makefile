# The two commands of the README, and a plain `make` that builds
# build/pyspect.  Meson and Ninja do the work; this file only wires them.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3

.PHONY: all deps demo test unit e2e asan bench check-format fuzz clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

# Install what the build and the tests need from Debian, when root.
deps:
	@tools/install-deps

demo: deps all
	@tools/demo $(BUILD)/pyspect

# Everything CI runs: release build + unit + e2e on every Python found,
# then a sanitizer build running the unit and dump tests.
test: deps all
	@tools/run-tests $(BUILD) $(ASAN_BUILD)

unit: all
	meson test -C $(BUILD) --suite unit --print-errorlogs

e2e: all
	PYSPECT=$(BUILD)/pyspect $(PYTHON) -m pytest -q tests/e2e

bench: all
	$(PYTHON) bench/run.py --pyspect $(BUILD)/pyspect

check-format:
	@tools/check-format

# The libFuzzer harnesses, FUZZ_SECONDS each (make test runs 8 each).
FUZZ_SECONDS ?= 300
fuzz: deps
	@tools/run-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
