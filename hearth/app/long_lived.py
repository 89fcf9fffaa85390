"""Keep the garbage collector's full passes short while serving.

A worker holds a few hundred thousand objects that live as long as it does: imported modules,
the loaded model snapshot, caches. Python's full collection walks all of them (150-200 ms on the
benchmark's server, every few seconds under load: the p99 of every endpoint). Freezing them
after start-up and after each snapshot swap (gc.freeze) leaves full passes only the objects
made since, as Instagram and the CPython docs recommend for long-running servers. The caches
(ranked lists, suggestions) still grow the old generation, so full passes are also made rarer:
one after 10,000 middle-generation passes instead of 10; the young generations are collected as
usual. At a lighter load that was tens of minutes, and cyclic garbage that had reached the old
generation piled up meanwhile (the 10-minute soak's memory grew ~190 MiB a minute; with CPython's
default it was flat, at a fifth less throughput). So a full pass also runs on a clock,
`FULL_PASS_EVERY_S`: memory stays bounded, and the pause comes once that often."""

from __future__ import annotations

import asyncio
import gc

FULL_PASS_AFTER = 10_000  # middle-generation collections between two full ones (CPython's default: 10)
FULL_PASS_EVERY_S = 30.0  # and a full pass at least this often


def settle() -> None:
    """Collect what is garbage now, then move every surviving object out of the collector's reach.
    A swap unfreezes first, so an old snapshot's cycles are still collected once."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_AFTER)


async def collect_regularly(every: float = FULL_PASS_EVERY_S) -> None:
    """A full collection every `every` seconds, until cancelled (the app's lifespan runs it)."""
    while True:
        await asyncio.sleep(every)
        gc.collect()
