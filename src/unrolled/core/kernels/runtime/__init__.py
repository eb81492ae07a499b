"""What every compiled kernel shares: loading the compiled modules without making calls
wait (:mod:`.loading`, :mod:`.build`) and the thread-local buffer pools
(:mod:`.buffers`). BLAS thread control: :mod:`..blas_threads`; batch-block threads:
:mod:`..lstm_numba` (``num_threads``, ``_run_jobs``)."""
