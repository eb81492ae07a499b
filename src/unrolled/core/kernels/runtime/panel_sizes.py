"""Sizes of the packed-panel step products (:mod:`._numba_panels`), importable without
numba (the Python side plans calls with them)."""

# Rows per register tile: 6 rows × 2 vector sums + 2 loads + 1 broadcast ≤ 16 ymm registers.
TILE_ROWS = 6
# Row-steps (rows × timesteps) of a call from which its loops copy U into packed panels;
# below, they multiply on U in place: copying a 144 × 512 float32 block takes ~30 µs
# here, while one (1, 144)·(144, 512) product on panels takes ~5 µs (a one-step call of
# a stateful stream went from 28 to 141 µs when it packed).
PACK_MIN_ROWS = 256
