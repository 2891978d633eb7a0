# Two commands: `make report` (default report on CDNOW) and `make test`.
# Set-up is a local virtualenv in .venv, created once and refreshed when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= data/raw/CDNOW_master.txt
PARAMS ?= params/cdnow.yaml

.PHONY: setup report test test-spark java chromium postgres postgres-stop lab clean-outputs

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

report: $(STAMP)
	$(PY) -m analysis run $(DATA) --params $(PARAMS)

test: $(STAMP)
	$(PY) -m pytest

# Spark (engine: spark) needs Java 17+; where it is missing, Debian's OpenJDK is installed
# with apt-get (as root, or with sudo when it needs no password).
java:
	@if command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ]; then \
	  echo "java: $$(java -version 2>&1 | head -n 1)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null && \
	  echo "java: installed $$(java -version 2>&1 | head -n 1)"; \
	else \
	  echo "java: not found and no apt-get; install Java 17+ or set JAVA_HOME" >&2; exit 1; \
	fi

# The browser tests (marker `browser`) drive headless Chromium; where it is missing, Debian's
# chromium and chromium-driver are installed with apt-get (as root, or password-less sudo).
chromium:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
	  echo "chromium: $$(chromium --version 2>/dev/null | head -n 1)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null && \
	  echo "chromium: installed $$(chromium --version 2>/dev/null | head -n 1)"; \
	else \
	  echo "chromium: not found and no apt-get; install Chromium to run the browser tests" >&2; exit 1; \
	fi

# The database tests (marker `postgres`) use a real PostgreSQL server: `make postgres` installs
# Debian's postgresql where it is missing (as root, or password-less sudo) and starts a
# throwaway cluster in a temporary folder on 127.0.0.1 (.ci/postgres; its URL and password in
# $${TMPDIR:-/tmp}/analysis-postgres); `make postgres-stop` stops it and removes the folder.
postgres:
	@bash .ci/postgres start

postgres-stop:
	@bash .ci/postgres stop

# the Spark tests only (they are part of `make test` too, where Java is present)
test-spark: $(STAMP) java
	$(PY) -m pytest -m spark

# JupyterLab on notebooks/; as root (a container, CI) it needs --allow-root, which is added then.
# LAB_ARGS passes further options, e.g. make lab LAB_ARGS="--no-browser --port=8890";
# LAB_DIR is the folder it opens.
# LANGUAGE=zh opens copies of the notebooks whose Markdown and parameters are in Chinese
# (written to outputs/notebooks-zh; edit the notebooks themselves in notebooks/).
LAB_ARGS ?=
LANGUAGE ?= en
LAB_DIR ?= $(if $(filter en,$(LANGUAGE)),notebooks,outputs/notebooks-$(LANGUAGE))
lab: $(STAMP)
	@if [ "$(LANGUAGE)" != en ]; then $(PY) -m analysis notebooks --language $(LANGUAGE) --out $(LAB_DIR) >/dev/null; fi
	$(VENV)/bin/jupyter lab --notebook-dir=$(LAB_DIR) $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

clean-outputs:
	find outputs -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +
