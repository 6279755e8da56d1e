"""Every notebook runs top to bottom on the tiny configuration and is stored without outputs.

The notebooks are executed with nbclient, one after the other in one kernel (each from an
empty namespace), with ``SNNVIZ_SMOKE=1``
(every training cell trains 48 samples for one epoch) and one thread per library. The
timeout only bounds a failure (a hung kernel); it is not a speed check.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT = 600            # seconds per cell: a bound on a hung kernel, not a speed check
NOTEBOOK_TIMEOUT = 900        # seconds per notebook (kernel start included for the first)


def test_there_are_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_thin(path):
    """Logic lives in snnviz: a few lines per code cell, no function or class definitions."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = cell.source.strip().splitlines()
            assert len(lines) <= 4, (path.name, cell.source)
            assert not any(ln.lstrip().startswith(("def ", "class ")) for ln in lines)


@pytest.fixture(scope="module")
def kernel():
    """One kernel for all notebooks (imports once); each notebook starts from an empty
    namespace (``%reset -f``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNNVIZ_SMOKE", "1")
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            mp.setenv(var, "1")
        mp.delenv("SNNVIZ_DATA", raising=False)       # FULL = False needs no data
        client = NotebookClient(nbformat.v4.new_notebook(), timeout=CELL_TIMEOUT,
                                kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOKS[0].parent)}})
        with client.setup_kernel():
            yield client


@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom(path, kernel):
    nb = nbformat.read(path, as_version=4)
    kernel.nb = nb
    kernel.execute_cell(nbformat.v4.new_code_cell("%reset -f"), 0, store_history=False)
    for i, cell in enumerate(nb.cells):
        kernel.execute_cell(cell, i)        # raises CellExecutionError with the traceback
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue")
    assert any(WIDGET in o.get("data", {}) for o in outputs), "the dashboards are shown"
    text = "".join(o.get("text", "") for o in outputs)
    assert "honest" in text                    # test accuracies under the honest read-out
    assert "Traceback" not in text
