# h2quarters — every target bootstraps .venv from the project's own files; no manual step.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SCENARIO ?= scenarios/oskar-von-miller
OUT    ?= out

.PHONY: install run simulate test bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "h2quarters needs Python >= 3.11, found " + sys.version' \
		|| { echo "Install Python 3.11 or newer (Debian: apt-get install python3 python3-venv) and retry."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) \
		|| { echo "Cannot create a venv. On Debian run: apt-get install -y python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

## install: create .venv and install h2quarters with its test tools (runs nothing)
install: $(STAMP)

PORT ?= 8000
## TEST_WORKERS: pytest-xdist workers for `make test` (one per core; a test file stays on one worker)
TEST_WORKERS ?= 2

## run: the main job: virtual PLC, controller in AUTO and the web HMI on 127.0.0.1 (prints the URL)
run: install
	$(BIN)/h2q serve --port $(PORT)

## simulate: the annual simulation of the school pilot, KPIs printed
simulate: install
	$(BIN)/h2q simulate $(SCENARIO) --year 2025 --out $(OUT)/oskar-von-miller

## test: install missing test peers (or say exactly how), then run the whole test suite
test: install
	bash scripts/ensure-test-peers.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

## bench: run the benchmarks (each prints ratios against a baseline measured in the same run)
bench: install
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
