"""What every compiled kernel shares: loading the compiled modules without making calls
wait (:mod:`.loading`, :mod:`.build`), the thread-local buffer pools (:mod:`.buffers`),
OpenBLAS's thread count around the compiled loops (:mod:`.blas`) and the threads that run
batch blocks and GEMM halves (:mod:`.threads`)."""
