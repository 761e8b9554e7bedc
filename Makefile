# Houqin — `make run` to try it, `make test` to check it. Both set up the virtualenv first.
# `make check` is the quick look while working: lint, types and the tests that need no PostgreSQL,
# browser or process of their own.
# The interpreter the virtualenv is made from: the distribution's own /usr/bin/python3.11 where it
# is there and can make one, else the first python3.11 (or python3) on the PATH. On this machine
# that first one is pyenv's build of 3.11.7, with Python in a shared library; Debian's 3.11.2 ran
# make check's tests on 16-18 % less CPU (2026-12-04, alternating twice: 79 and 89 s against 92
# and 102 s). Looked up only when a .venv is made; an existing one keeps its interpreter (make clean).
SYSTEM_PYTHON = $(shell /usr/bin/python3.11 -c 'import ensurepip, venv; print("/usr/bin/python3.11")' 2>/dev/null)
PYTHON ?= $(or $(SYSTEM_PYTHON),$(shell command -v python3.11 || command -v python3))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

# Compiled bytecode is kept (__pycache__/, ignored by git) even where the environment says not to
# (PYTHONDONTWRITEBYTECODE): otherwise every process the suite starts, each xdist worker and each
# `houqin` a test runs, compiles the project and rewrites the tests' asserts again (~2.5 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test check lint typecheck pytest fast shifted coverage bench mutate browser clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/houqin migrate
	$(BIN)/houqin demo
	$(BIN)/houqin run --demo

# Lint first (a second or two), then the types, the whole suite and the shifted clock side by side:
# alone, the suite leaves a fifth of the two cores idle while its tests wait on real time, and the
# other two fit in that. Each one's output is printed whole when it ends (--output-sync), so mypy's
# and the shifted clock's come first and the suite's last; `make pytest` streams its progress.
test: $(STAMP) browser lint
	@$(MAKE) --no-print-directory --jobs=3 --output-sync=target typecheck pytest shifted

# The same for the quick look: lint, then the types beside the tests (mypy is a few seconds warm, but
# about 25 on a fresh clone, when it would otherwise come before any test).
check: $(STAMP) lint
	@$(MAKE) --no-print-directory --jobs=2 --output-sync=target typecheck fast

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest-xdist's workers, each with its own databases (tests/conftest.py). One more than the two
# cores here: many tests wait on real time (pacing, retries, a restarted `houqin`) rather than
# compute. The longest start first, and a worker that runs out of tests takes half of another's
# (work stealing; tests/conftest.py says why). A fourth worker bought the whole suite nothing when
# last measured; each change's timings are in docs/PERFORMANCE.md ("Results").
WORKERS ?= 3
XDIST = --numprocesses=$(1) --dist=worksteal
# The tests' databases and files are kept in memory where a tmpfs can hold them (/dev/shm): each
# commit's fsync to disk is a wait that no test checks (a killed process loses nothing either way;
# only the machine crashing would). Measured: 0.6-0.7 against 0.5-0.6 ms of CPU per unit of work.
# Only a failed test's files are kept afterwards (pyproject's tmp_path_retention_policy).
IN_MEMORY = $(if $(shell test -d /dev/shm -a -w /dev/shm && echo yes),TMPDIR=/dev/shm)
pytest: $(STAMP)
	$(IN_MEMORY) $(BIN)/python -m pytest $(call XDIST,$(WORKERS)) --durations=15

# The tests that need no PostgreSQL, browser or process of their own (markers set in tests/conftest.py),
# less the one that waits out tens of seconds of real time by design (`slow`: a thousand notices inside
# Telegram's 30 a second); make test runs it.
FAST := not postgresql and not browser and not subprocess and not slow
# As many workers as the whole suite. A fourth once overlapped the tests' waits on real time, until
# the fakes stopped waiting out uvicorn's shutdown; since, it costs more CPU than it saves (alternating
# on a warm clean clone, docs/PERFORMANCE.md: -n 3 mean 57.6 s, -n 4 60.7 s).
FAST_WORKERS ?= 3
fast: $(STAMP)
	$(IN_MEMORY) $(BIN)/python -m pytest $(call XDIST,$(FAST_WORKERS)) -q -m "$(FAST)"

# The whole suite with a coverage report, least covered first (pyproject's [tool.coverage]: greenlet
# and thread concurrency, or code after SQLAlchemy's awaits would count as unrun). Tracing greenlets
# more than doubles the run (measured: 45 s → 100 s on the ticket tests), so make test leaves it out.
coverage: $(STAMP)
	$(BIN)/python -m pytest --cov

# The tests that start a service or drive jobs again, with the clock moved by libfaketime: one of
# Monday 10:00, a month's first working day 09:00, New Year's Eve 23:59:59 and a year ahead, in turn
# (`$(BIN)/python -m tests.shifted_clock --clock all` runs all four).
shifted: $(STAMP)
	$(IN_MEMORY) $(BIN)/python -m tests.shifted_clock $(call XDIST,$(WORKERS)) --durations=5

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here); door signs
# and screenshots need CJK and emoji fonts; the shifted-clock run needs libfaketime. Installed when
# missing and we may (root with apt-get).
BROWSER_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji faketime
browser:
	@missing=""; \
	test -x $(CHROMIUM) || missing="yes"; \
	command -v faketime >/dev/null || missing="yes"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="yes"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
		else echo "Chromium, CJK fonts or faketime missing: browser and font tests and the shifted clock will skip (apt-get install $(BROWSER_PACKAGES))"; fi; \
	fi

bench: $(STAMP)
	$(BIN)/python -m bench

# Deliberate breaks of stock, authorisation, delivery keys, survey tokens and the send log, one at a
# time in a copy of the tree: each must fail a named test. Slow, so not part of make test.
mutate: $(STAMP)
	$(BIN)/python -m mutation

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .coverage
	find . -name __pycache__ -prune -exec rm -rf {} +
