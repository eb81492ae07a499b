"""Fuzzing every model-file loader: hypothesis mutates small real files, a memory-limited
subprocess loads each one and reports how it ended (see test_fuzz_loaders.py)."""
