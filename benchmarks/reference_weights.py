"""Evaluate the authors' released S4NN weights with snnviz's forward pass and read-out.

The S4NN reference repository ships ``weights_pretrained.npy`` (784-400-10, trained with the
reference script). Scoring it under every evaluation policy checks that snnviz's forward
pass and read-out reproduce the reference semantics, and shows how much the protocol
matters. The reference script relabels digits through ``cats = [4,1,0,7,9,2,3,5,8,6]``
(output neuron k stands for digit cats[k]); the rows are reordered here so that output
neuron d stands for digit d.

    python benchmarks/reference_weights.py PATH/weights_pretrained.npy --data-root DIR

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

from snnviz.algorithms import s4nn
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--data-root")
    args = ap.parse_args()
    w = load_reference(args.weights)
    w_hid = torch.from_numpy(np.asarray(w[0], dtype=np.float64).reshape(400, 784))
    w_out = torch.from_numpy(np.asarray(w[1], dtype=np.float64).reshape(10, 400))
    w_out = w_out[[CATS.index(d) for d in range(10)]]            # neuron d <-> digit d
    cfg = s4nn.Config(dtype="float64")
    params = s4nn.Params((w_hid, w_out), torch.ones(2, dtype=torch.float64))
    ds = load_dataset("mnist", args.data_root)
    t_in = s4nn.encode(ds.test_x, cfg)
    out = s4nn.forward(params, t_in, cfg).readout
    y = np.asarray(ds.test_y)
    policies = dict(REPORTED_POLICIES, **{"tie-lowest-index": EvalPolicy("wrong",
                                                                          "lowest-index")})
    res = {name: float(s4nn.score(out, y, p, cfg).mean()) for name, p in policies.items()}
    res["no_spike_rate"] = float(s4nn.silent(out, cfg).mean())
    res["tie_rate"] = float(s4nn.tied(out, cfg).mean())
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
