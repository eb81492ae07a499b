"""Sizes of the packed-panel step products (:mod:`._numba_panels`), importable without
numba (the Python side plans calls with them)."""

# Rows per register tile: 6 rows × 2 vector sums + 2 loads + 1 broadcast ≤ 16 ymm registers.
TILE_ROWS = 6
# A call's loops copy U into packed panels when they run at least PACK_MIN_ROWS row-steps
# (rows × timesteps), or whatever the steps when U has at most PACK_ALWAYS_ELEMENTS
# elements; otherwise they multiply on U in place. Copying a 144 × 512 float32 block
# (with its fresh pages) cost 30-110 µs here, while one (1, 144)·(144, 512) product takes
# ~5 µs on panels and ~6 in place: a one-step call of a stateful stream went from 28 to
# 141 µs when it packed, while a (1, 50, 8, 32) call gains (34 -> 21 µs) from packing its
# 5 K-element block.
PACK_MIN_ROWS = 64
PACK_ALWAYS_ELEMENTS = 16384


def packs(rows: int, elements: int) -> bool:
    """Whether a call of ``rows`` row-steps packs a block of ``elements`` weights."""
    return rows >= PACK_MIN_ROWS or elements <= PACK_ALWAYS_ELEMENTS
