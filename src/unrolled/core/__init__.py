"""Pure NumPy math: activations, initializers, gate layouts, cells and backprop through time.

Nothing in ``core`` keeps state between calls: every function takes arrays and returns
arrays (plus, for the forward passes, a cache that the matching backward consumes).
"""
