"""One intra-op thread for the tiny M3amba tests.

Their tensors are far too small to gain from a second thread, and with two
OpenMP threads on a loaded 2-core machine every small op waits for both
threads to be scheduled (measured: a tiny forward took 5-10 s with two
threads and 0.15 s with one, under a load of 12).
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
