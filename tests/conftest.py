import pyro
import pytest
import torch

# With a busy second core, two intra-op threads ran ~10x slower than one on the CI machines.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_clean_param_store():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()
