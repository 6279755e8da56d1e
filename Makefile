# snnviz: `make serve` (dashboard on http://localhost:5006) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 5006
ADDRESS ?= 127.0.0.1
DATA   ?= $(if $(SNNVIZ_DATA),$(SNNVIZ_DATA),../shared/datasets)
SEED   ?= 0
DEVICE ?= cpu

.PHONY: venv serve test lab lint bench results results-proxy embedded clean

venv: $(STAMP)

# torch/torchvision are installed once per venv (large); re-run only when pyproject changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/panel serve apps/dashboard.py --address $(ADDRESS) --port $(PORT) \
		--allow-websocket-origin=localhost:$(PORT) --allow-websocket-origin=127.0.0.1:$(PORT)

test: $(STAMP)
	$(PY) -m pytest -q

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check snnviz tests benchmarks apps

bench: $(STAMP)
	$(PY) benchmarks/ttfs_speed.py

# Full-dataset runs of docs/results.md (hours on 2 cores; each writes runs/results/NAME).
results: $(STAMP)
	$(PY) -m snnviz train --algorithm s4nn --dataset mnist --data-root $(DATA) --epochs 100 \
		--set order=fixed --seed $(SEED) --out runs/results/s4nn-mnist
	$(PY) -m snnviz train --algorithm s4nn --dataset mnist --data-root $(DATA) --epochs 20 \
		--set order=fixed --set lr_hidden=0.02 --set lr_out=0.02 --seed $(SEED) \
		--init-from runs/results/s4nn-mnist --out runs/results/s4nn-mnist-finetune
	$(PY) -m snnviz train --algorithm s4nn --dataset fashion-mnist --data-root $(DATA) \
		--epochs 28 --set order=fixed --set thr_hidden=300.0 --set thr_out=300.0 \
		--set lr_hidden=0.05 --set lr_out=0.05 --set dead_reset=0.0 --seed $(SEED) \
		--out runs/results/s4nn-fashion-mnist-lr05
	$(PY) -m snnviz train --algorithm bs4nn --dataset mnist --data-root $(DATA) --epochs 200 \
		--set order=replacement --seed $(SEED) --out runs/results/bs4nn-mnist
	$(PY) -m snnviz train --algorithm bs4nn --dataset fashion-mnist --data-root $(DATA) \
		--epochs 40 --set order=replacement --set thr_hidden=450.0 --set thr_out=300.0 \
		--set lr_hidden=0.03 --set lr_out=0.03 --set lr_alpha=0.003 --seed $(SEED) \
		--out runs/results/bs4nn-fashion-mnist-lr03

# Proxy learning on Fashion-MNIST, the paper's network: the proxy-trained SNN, the ANN alone
# and the converted ANN (docs/results.md). Needs a GPU in practice: make results-proxy DEVICE=cuda
results-proxy: $(STAMP)
	PY=$(PY) DATA=$(DATA) DEVICE=$(DEVICE) SEED=$(SEED) benchmarks/proxy_results.sh

# Regenerate the embedded offline subsets from the original (md5-checked) files.
embedded: $(STAMP)
	$(PY) -m snnviz.data.make_embedded --source $(DATA)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
