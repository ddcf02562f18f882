# unicard: the targets a newcomer, a vendor and CI use. Each installs what it needs.
.PHONY: setup build typecheck lint test fuzz reliability bench demo docs clean

setup:
	@./scripts/setup.sh

# dist/: the compiled daemon, CLI and simulator that bin/ runs when it is up to date.
build: setup
	./scripts/build.sh

typecheck: setup
	npx tsc -p tsconfig.json --noEmit

lint: typecheck

# The default run: unit, property, integration and e2e tests (under 10 minutes on 2 cores).
test: setup typecheck
	npx vitest run

# Long counts: fuzzing with 1,000,000+ cases.
fuzz: setup
	UNICARD_FUZZ_RUNS=1000000 npx vitest run --testNamePattern 'fuzz|property'

# Fault campaigns at full counts (line noise at the issue's 1 %) and the attack tests, then a summary table (results/reliability/).
reliability: setup
	UNICARD_NOISE_RATE=$${UNICARD_NOISE_RATE:-0.01} node --import tsx scripts/reliability.ts

bench: setup
	node --import tsx bench/run.ts

demo: setup
	@node --import tsx scripts/demo.ts

# PROTOCOL.md is assembled from PROTOCOL.d/ (the sections next to their vector checks).
docs: setup
	node --import tsx scripts/protocol-doc.ts

clean:
	rm -rf dist results
