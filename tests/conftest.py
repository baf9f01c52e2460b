import os

import pyro
import pytest
import torch
from hypothesis import HealthCheck, settings

# With a busy second core, two intra-op threads ran ~10x slower than one on the CI machines.
torch.set_num_threads(1)

# The devices the distribution tests run on: CPU always, CUDA when present.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# Property-based tests: a short default profile for every run, a thorough one for `HYPOTHESIS_PROFILE=thorough`.
# Examples are derandomised so that a run is reproducible; the thorough profile explores more and for longer.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("default", max_examples=15, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=300, derandomize=False, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seed_and_clean_param_store():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()
