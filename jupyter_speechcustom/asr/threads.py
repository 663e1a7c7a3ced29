"""How many threads torch uses, for a block of code.

Beam search, speech detection and streaming run thousands of tiny tensor operations, for
which a thread pool only adds overhead (10x to 100x on two busy cores): they run on one thread
and give the process its own setting back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(count: int = 1) -> Iterator[None]:
    """Run the block with torch on ``count`` threads, restoring the process's setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
