"""Share the tile batches of a large scene among the processes of a job.

Under ``torchrun`` / SLURM (``torch.distributed`` initialised), every rank
runs the same tile loop but predicts only its share of the batches: batch
``b`` (counted over the whole scene, in the single-process order) belongs to
rank ``b % world_size``. After each tile row the ranks send their logits to
rank 0, which blends them in the single-process order and writes the maps.
Each batch is formed exactly as in a single process (same tiles, same batch
size), so the written maps equal a single-process run bit for bit.

Each rank reads only the windows of its own tiles. The per-band statistics
of the normalisation are computed once, by rank 0, and sent to the others
(:meth:`TileSharing.from_rank0`), so that every rank normalises with exactly
the single-process values.
"""
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


class TileSharing:
    """Which tile batches this rank predicts, and their collection on rank 0.

    Args:
        rank (int): This process's rank.
        world_size (int): Number of processes.

    Attributes:
        next_batch (int): Global index of the next batch of the scene.
    """

    def __init__(self, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f'rank {rank} is not in [0, {world_size}).')
        self.rank = rank
        self.world_size = world_size
        self.next_batch = 0

    @classmethod
    def from_process_group(cls) -> 'TileSharing':
        """The sharing of the current ``torch.distributed`` job (or none)."""
        from mmengine.dist import get_dist_info
        rank, world_size = get_dist_info()
        return cls(rank, world_size)

    @property
    def distributed(self) -> bool:
        """Whether more than one process shares the tiles."""
        return self.world_size > 1

    @property
    def writes(self) -> bool:
        """Whether this rank blends and writes the maps (rank 0)."""
        return self.rank == 0

    def predict_row(self, batches: Sequence[Any],
                    predict: Callable[[Any], np.ndarray]
                    ) -> list[np.ndarray] | None:
        """Predicts this rank's batches of one tile row; gathers on rank 0.

        Args:
            batches: The row's batches, in single-process order (anything
                ``predict`` takes, e.g. lists of tile columns).
            predict: Batch -> (B, K, h, w) logits.

        Returns:
            On rank 0 the logits of every batch of the row, in order; None on
            the other ranks.
        """
        mine: dict[int, np.ndarray] = {}
        for offset, batch in enumerate(batches):
            if (self.next_batch + offset) % self.world_size == self.rank:
                mine[offset] = predict(batch)
        self.next_batch += len(batches)
        if not self.distributed:
            return [mine[i] for i in range(len(batches))]
        from torch import distributed as dist
        gathered = [None] * self.world_size if self.writes else None
        dist.gather_object(mine, gathered, dst=0)
        if not self.writes:
            return None
        merged: dict[int, np.ndarray] = {}
        for part in gathered:
            merged.update(part)
        return [merged[i] for i in range(len(batches))]

    def from_rank0(self, compute: Callable[[], Any]) -> Any:
        """``compute()`` on rank 0, its result sent to every rank."""
        if not self.distributed:
            return compute()
        from torch import distributed as dist
        box = [compute() if self.writes else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def same_weights(self, model: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers.

        A model with random initial weights would otherwise differ per
        process.

        Args:
            model: The model whose state dict is broadcast in place.
        """
        if not self.distributed:
            return
        from mmengine.dist import broadcast
        for tensor in model.state_dict().values():
            broadcast(tensor, src=0)

    def barrier(self) -> None:
        """Waits for every rank (so the maps exist when all return)."""
        if self.distributed:
            from torch import distributed as dist
            dist.barrier()
