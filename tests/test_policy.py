"""Read-out of the output race under each evaluation policy."""

import numpy as np

from snnviz.algorithms._common import Readout, ttfs_correct, ttfs_predict
from snnviz.config import HONEST, LENIENT, EvalPolicy

T = 10
# rows: clear winner 1 | tie 0&2 (label 2, potential favours 2) | silent (v_late favours 1)
OUT = Readout(np.array([[5, 3, 7], [4, 9, 4], [10, 10, 10]]),
              np.array([[0, 9, 0], [1.0, 0, 2.0], [0, 0, 0]]),
              np.array([[0, 0, 0], [0, 0, 0], [0.1, 0.5, 0.2]]))
Y = np.array([1, 2, 1])


def test_honest():
    np.testing.assert_array_equal(ttfs_predict(OUT, HONEST, T), [1, -1, -1])
    np.testing.assert_array_equal(ttfs_correct(OUT, Y, HONEST, T), [True, False, False])


def test_reference_is_lenient():
    np.testing.assert_array_equal(ttfs_correct(OUT, Y, LENIENT, T), [True, True, True])


def test_tie_rules():
    pot = EvalPolicy("wrong", "potential")
    np.testing.assert_array_equal(ttfs_predict(OUT, pot, T), [1, 2, -1])
    low = EvalPolicy("wrong", "lowest-index")
    np.testing.assert_array_equal(ttfs_predict(OUT, low, T), [1, 0, -1])
    opt = EvalPolicy("wrong", "optimistic")
    np.testing.assert_array_equal(ttfs_correct(OUT, np.array([1, 0, 1]), opt, T),
                                  [True, True, False])
