"""Live training dashboard (served; see docs/dashboard.md and docs/exploration.md).

    panel serve apps/dashboard.py --address 127.0.0.1 --port 5006 \
        --allow-websocket-origin=localhost:5006 --allow-websocket-origin=127.0.0.1:5006

Open http://localhost:5006/dashboard. The whole view lives in the URL's query string
(``?algorithm=bs4nn&dataset=fashion-mnist-mini&seed=3&t_max=64&view=neuron-sandbox``,
``&present=1`` for presenter mode): the "Share this view" card shows the link. Values a link
cannot use are listed there and replaced by defaults. Finished command-line runs are read
from ``SNNVIZ_RUNS`` (default: ``runs``). Works offline on the embedded datasets.
"""

import sys

import panel as pn

from snnviz.explore.urlstate import decode_state
from snnviz.runs import RunLibrary
from snnviz.ui.explore import explore_extensions
from snnviz.ui.panel_app import TrainingApp

pn.extension("plotly", "katex", notifications=False)

LIBRARY_ROOT = RunLibrary.from_env().root          # fixed at server start, never from a URL

# Faster views than the command-line defaults: probe the watched sample every 10 steps.
SERVER_DEFAULTS = {"every": "10", "epochs": "20"}

# Panel's page-location sync reads every all-digit query value with int(), which refuses
# more than 4300 digits and would leave a blank page for a link such as ?t_max=999...9;
# allow any number a URL can hold (tornado caps the request line at 64 KiB).
if 0 < sys.get_int_max_str_digits() < 70_000:
    sys.set_int_max_str_digits(70_000)

state, messages = decode_state(pn.state.session_args or {})
TrainingApp(
    algorithm=state.algorithm,
    dataset=state.dataset,
    seed=state.seed,
    overrides={**SERVER_DEFAULTS, **state.overrides},
    extensions=explore_extensions(state, messages, RunLibrary(LIBRARY_ROOT)),
    worker="process",       # each tab's trainer in its own process, off the server's GIL
).servable()
