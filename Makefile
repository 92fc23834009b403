# The two commands of the README's Quick start: `make run` and `make test`.
SWIFT ?= swift
REPORT_DIR ?= reports

.PHONY: setup setup-tests build release run test unit clean

setup:
	bash scripts/setup-host

# The tests also need a browser (the handouts and reports rendered headless).
setup-tests:
	bash scripts/setup-host --tests

build: setup
	$(SWIFT) build

# The Swift runtime and Foundation linked into the executables: a command
# starts without the dynamic loader resolving a dozen Swift libraries.
release: setup
	$(SWIFT) build -c release --static-swift-stdlib

# The main job: the host check, then the default scenario on every backend,
# reports written to reports/<scenario>-<UTC time>/.
SCENARIO ?= scenarios/startup.yaml
run: release
	.build/release/isolab doctor
	.build/release/isolab run $(SCENARIO)

# The integration tests run the built `isolab`, so build it before testing.
# One test at a time: several of them measure CPU time, shares and quotas,
# which tests running beside them on a small machine would disturb.
# ISOLAB_REQUIRE_ALL=1: here every integration suite must run; a missing need
# (root, libvirtd, QEMU, Chromium) fails instead of skipping.
test: setup-tests build
	ISOLAB_REQUIRE_ALL=1 $(SWIFT) test --no-parallel

# The unit tests alone: no root, no host set-up, no integration suite.
unit:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip IntegrationTests

clean:
	rm -rf .build
