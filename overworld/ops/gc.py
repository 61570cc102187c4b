"""How long-running Overworld processes (the server, the load generator) set up CPython's
garbage collector once started.

A connected socket keeps ~80 objects alive, and every message a socket waits for leaves a few
more (the coroutine, future and frame of the pending read) that live until the next message
arrives, seconds later. CPython's defaults let those pile up: with the young generation collected
every 700 allocations and the middle one every 10 young collections, a launch surge showed the
middle generation's pause growing with the connected players (26 ms at 2,000, 96 ms at 12,000,
every ~5 s: the spikes of the log-in and ping percentiles), and the automatic full collections
walk every socket (~0.7 s at 20,000).

So: freeze what start-up left (`gc.freeze`), collect the young generation every 4,000
allocations and the middle one every other time, so that objects alive after two young
collections move to the oldest generation at once and no pause has more than ~1 s of survivors
to walk (≤ 13 ms at 12,000 connected players); the oldest generation is never collected
automatically (threshold out of reach): the server runs one full collection every
`gc_full_collect_sec` to reclaim reference cycles. Measured in bench/README.md ("Garbage
collection"): surge ping p99 8 ms instead of 41-58 ms, echo RPC within 3% of the old setting.
"""

from __future__ import annotations

import gc

THRESHOLDS = (4_000, 0, 1_000_000)


def freeze_and_tune() -> None:
    """Freeze the objects alive now and set `THRESHOLDS` (call once, after start-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
