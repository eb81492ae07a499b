"""One real Dask LocalCluster (2 worker processes on the loopback interface) shared by
tests/distributed; a missing dask fails under CI=true (tests/peers.py)."""
from __future__ import annotations

import pytest

from tests.peers import require


@pytest.fixture(scope="session")
def cluster_client():
    distributed = require("distributed")
    # dashboard on a free port: the default 8787 may be taken (a port warning is an error)
    cluster = distributed.LocalCluster(n_workers=2, processes=True, host="127.0.0.1",
                                       threads_per_worker=1, dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
