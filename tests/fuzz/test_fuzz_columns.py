"""Property: one bad cell never silently drops a column. A numeric column with a minority
of unreadable cells either stops with a DataError naming its first bad cell, or (when the
cells are only spelled otherwise and the option is given) is used; it is never ignored."""
from __future__ import annotations

import io

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from unrolled.data import read_csv, select_columns  # noqa: E402
from unrolled.errors import DataError  # noqa: E402

BAD = st.one_of(st.sampled_from(["?", "-", "n.a.", "4,7", "1_000", "1,234", "12 3", "x1",
                                 "--5", "1e", ".", "0x10", "1..2"]),
                st.text(alphabet="abc?!#%*", min_size=1, max_size=4))


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(n=st.integers(8, 30), data=st.data())
def test_a_few_bad_cells_never_drop_a_column(n, data):
    values = data.draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=max(1, n // 3),
                              unique=True))
    cells = [repr(v) for v in values]
    for r in rows:
        cells[r] = data.draw(BAD)
    other = [str(i * 7 % 5 + 0.5 * i) for i in range(n)]
    text = "y,x\n" + "\n".join(f"{o},\"{c}\"" for o, c in zip(other, cells)) + "\n"
    table = read_csv(io.StringIO(text), time_column=None)
    try:
        _, _, info = select_columns(table, targets="y")
    except DataError as err:
        first = min(rows)
        assert "column 'x'" in str(err) and f"data row {first + 1} " in str(err), str(err)
        return
    assert "x" in info.features, info.ignored   # used, never silently ignored
