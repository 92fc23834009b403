# The two commands of the README's Quick start: `make run` and `make test`.
SWIFT ?= swift
REPORT_DIR ?= reports

.PHONY: setup build release run test clean

setup:
	bash scripts/setup-host

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# Until the scenario runner lands, the main job is the host check; its JSON
# facts are written under reports/.
run: release
	@mkdir -p $(REPORT_DIR)
	.build/release/isolab image build --builtin busybox
	.build/release/isolab doctor --output $(REPORT_DIR)/doctor-$$(date -u +%Y%m%dT%H%M%SZ).json

# The integration tests run the built `isolab`, so build it before testing.
test: build
	$(SWIFT) test

clean:
	rm -rf .build
