"""`scalectl bench`: a bounded load generator, open loop (fixed arrival rate) or closed loop (fixed concurrency).

Imported only by `scalectl bench`; it needs the `hdrhistogram` package (`pip install 'scalectl[bench]'`).
"""
