"""`tag` under `torchrun` or `accelerate launch`: each process joins one gloo group, whose barrier waits until every
process has written its part."""

from __future__ import annotations

import os
from datetime import timedelta

BARRIER_TIMEOUT = timedelta(days=7)  # a process that finishes its share early waits this long for the others


def join_process_group():
    """This process's place in the torchrun/accelerate group (gloo), left at exit whatever happens."""
    import atexit

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)  # gloo: the one barrier runs on CPUs and GPUs alike
    # `run` leaves the group after its barrier; on any other way out (an error) it is left here, before the
    # interpreter tears down: a process that exits still in its gloo group can abort ("terminate called without an
    # active exception") and make torchrun report a failure.
    atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))  # "cuda" is then this process's own GPU
    return dist
