"""One real Dask LocalCluster (2 worker processes on the loopback interface) for the
parallel tests; missing dask fails under CI=true (tests/peers.py)."""
from __future__ import annotations

import pytest

from tests.peers import require


@pytest.fixture(scope="session")
def dask_client():
    distributed = require("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, host="127.0.0.1",
                                       threads_per_worker=1, dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
