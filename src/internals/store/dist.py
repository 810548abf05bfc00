"""Data-parallel capture: which rank this process is, and the few collectives the store needs.

Under `torchrun` / `accelerate launch` (WORLD_SIZE > 1 and RANK set) the process group is
initialised here if the caller has not done it (gloo on CPU, nccl on CUDA) and destroyed again
at the end; an already initialised group is used as it is and left alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch

from ..errors import InternalsError


class Dist:
    """rank / world of this process; `world == 1` when not distributed (every call is then local)."""

    def __init__(self, rank: int = 0, world: int = 1, created: bool = False):
        self.rank, self.world, self.created = rank, world, created

    @classmethod
    def setup(cls, device: torch.device, timeout_s: float = 3600) -> Dist:
        import torch.distributed as td

        if not td.is_available():
            return cls()
        if td.is_initialized():
            return cls(td.get_rank(), td.get_world_size())
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1 or "RANK" not in os.environ:
            return cls()
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        td.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        return cls(td.get_rank(), td.get_world_size(), created=True)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as td

            td.barrier()

    def from_rank0(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on rank 0 only and hand its result to every rank; an error there is raised on all."""
        result: tuple[str, Any] | None = None
        error: BaseException | None = None
        if self.rank == 0:
            try:
                result = ("ok", fn())
            except Exception as err:  # every rank must leave the collective, not only rank 0
                error = err
                result = (
                    "error",
                    str(err) if isinstance(err, InternalsError) else f"rank 0 failed: {type(err).__name__}: {err}",
                )
        if self.world > 1:
            import torch.distributed as td

            box = [result]
            td.broadcast_object_list(box, src=0)
            result = box[0]
        if error is not None:
            raise error
        assert result is not None  # set on rank 0, broadcast to the others
        if result[0] == "error":
            raise InternalsError(result[1])
        return result[1]

    def close(self) -> None:
        if self.created:
            import torch.distributed as td

            td.destroy_process_group()
