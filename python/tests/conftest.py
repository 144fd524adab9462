# Shared helpers of the binding's tests: the environments' names, and random actions from a
# seeded NumPy stream (the tests never depend on an unseeded draw).
import numpy as np
import pytest

import armfarm

NAMES = [spec["name"] for spec in armfarm.envs()]


def random_actions(rng, shape):
    """Actions in [-1.2, 1.2]: beyond the bounds on purpose (the library clips them)."""
    return rng.uniform(-1.2, 1.2, size=shape).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
