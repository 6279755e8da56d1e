"""Evaluate the authors' released S4NN or BS4NN weights with snnviz's forward pass and read-out.

The S4NN reference repository ships ``weights_pretrained.npy`` (784-400-10, trained with the
reference script). Scoring it under every evaluation policy checks that snnviz's forward
pass and read-out reproduce the reference semantics, and shows how much the protocol
matters. The reference script relabels digits through ``cats = [4,1,0,7,9,2,3,5,8,6]``
(output neuron k stands for digit cats[k]); the rows are reordered here so that output
neuron d stands for digit d.

    python benchmarks/reference_weights.py PATH/weights_pretrained.npy --data-root DIR
    python benchmarks/reference_weights.py PATH/W0_binary.npy PATH/W1_binary.npy --data-root DIR

The BS4NN repository ships the real-valued latent weights ``W0_binary.npy`` (600x784x1) and
``W1_binary.npy`` (10x600x1) as plain ``.npy`` files; their layer scales are hard-coded in
its notebook (4.03707844 and 9.06516109) and its labels are the digits themselves.

The file is a pickled object array of (cupy) arrays. It is read with a restricted
unpickler that only rebuilds numpy arrays (cupy arrays become numpy arrays) and refuses
anything else.
"""

from __future__ import annotations

import argparse
import json
import pickle

import numpy as np
import torch

from snnviz.algorithms import bs4nn, s4nn
from snnviz.config import EvalPolicy
from snnviz.data import load_dataset
from snnviz.training.trainer import REPORTED_POLICIES

CATS = [4, 1, 0, 7, 9, 2, 3, 5, 8, 6]
ALLOWED = {("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
           ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
           ("cupy.core.core", "array"): np.asarray}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}") from None


def load_reference(path: str) -> list[np.ndarray]:
    """The two weight arrays of the authors' ``weights_pretrained.npy``."""
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        return list(_ArraysOnly(f).load())


BS4NN_ALPHA = (4.03707844, 9.06516109)


def load_network(paths: list[str]):
    """``(module, config, params)`` for the released S4NN file or the two BS4NN files."""
    if len(paths) == 1:
        w = load_reference(paths[0])
        w_hid = torch.from_numpy(np.asarray(w[0], dtype=np.float64).reshape(400, 784))
        w_out = torch.from_numpy(np.asarray(w[1], dtype=np.float64).reshape(10, 400))
        w_out = w_out[[CATS.index(d) for d in range(10)]]        # neuron d <-> digit d
        cfg = s4nn.Config(dtype="float64")
        return s4nn, cfg, s4nn.Params((w_hid, w_out), torch.ones(2, dtype=torch.float64))
    if len(paths) == 2:
        w = [np.load(p, allow_pickle=False) for p in paths]       # plain float64 arrays
        w_hid = torch.from_numpy(w[0].reshape(600, 784))
        w_out = torch.from_numpy(w[1].reshape(10, 600))
        cfg = bs4nn.Config(dtype="float64")
        return bs4nn, cfg, bs4nn.Params((w_hid, w_out),
                                        torch.tensor(BS4NN_ALPHA, dtype=torch.float64))
    raise SystemExit("give weights_pretrained.npy (S4NN) or W0_binary.npy W1_binary.npy (BS4NN)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--data-root")
    args = ap.parse_args()
    mod, cfg, params = load_network(args.weights)
    ds = load_dataset("mnist", args.data_root)
    t_in = mod.encode(ds.test_x, cfg)
    out = mod.forward(params, t_in, cfg).readout
    y = np.asarray(ds.test_y)
    policies = dict(REPORTED_POLICIES, **{"tie-lowest-index": EvalPolicy("wrong",
                                                                          "lowest-index")})
    res = {name: float(mod.score(out, y, p, cfg).mean()) for name, p in policies.items()}
    res["no_spike_rate"] = float(mod.silent(out, cfg).mean())
    res["tie_rate"] = float(mod.tied(out, cfg).mean())
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
