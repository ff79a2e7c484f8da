# hwsim — the two commands: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test clean

# uv resolves and installs the dependencies in ≈ 7 s where pip takes 80–100 s (measured on a fresh 2-core
# machine); it is bootstrapped into the venv by pip, and pip installs alone if uv cannot be had. uv writes no
# bytecode, and with PYTHONDONTWRITEBYTECODE set (as on the CI machines) every process — each test subprocess,
# each dask worker — compiled the imports' sources again, 7.2 s instead of 3.2 s. uv's --compile-bytecode
# compiles every installed module (14 s); instead our commands may write the bytecode of what they import
# (the first import of the CLI, dask and matplotlib takes 4.7 s, later ones 1.6 s).
unexport PYTHONDONTWRITEBYTECODE

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv || true

$(STAMP): $(BIN)/python pyproject.toml
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[test]"; \
	else $(BIN)/python -m pip install --quiet -e ".[test]"; fi
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The comparison first: its warm-up compiles the device kernel the plot needs in a second process (the plot
# alone spent 16 of its 19 s compiling it).
demo: $(STAMP)
	mkdir -p out
	$(BIN)/hwsim compare examples/compare.toml --rules bp,dfa,bp+center+decor,dfa+center+decor,bp+unidirectional \
		--devices ideal,reram-sb,ag-a-si,ecram-ibm -o out --workers 2
	$(BIN)/hwsim devices plot ag-a-si ecram-ibm reram-sb fefet -o out/device_responses.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
	find . -path ./.venv -prune -o \( -name "*.nbi" -o -name "*.nbc" \) -print | xargs rm -f
