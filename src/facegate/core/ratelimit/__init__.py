"""Rate limits shared by every worker and host: the ``limits`` library's fixed-window algorithm over
a storage every process sees (our database by default, Redis when configured).

* ``storage.SqlStorage``: a ``limits`` storage on the ``rate_limits`` table (one atomic upsert per
  hit; expired rows are deleted on write, about once per ``purge_every`` writes).
* ``service.RateLimits``: named rules from settings → ``429 rate_limited`` with ``Retry-After``.
* ``deps``: the FastAPI dependencies routes add (``rate_limit("recognition")``, ``guess_limit``).
"""
