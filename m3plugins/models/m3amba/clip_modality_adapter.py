"""M3amba's trainable adapters around a frozen CLIP image encoder."""
from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn.init import trunc_normal_, zeros_

from .pointwise_patch_embed import PointwisePatchEmbed


class CLIPModalityAdapter(nn.Module):
    """The trainable parts of one modality's CLIP branch (M3amba).

    Cao et al., arXiv 2503.06446 (official code: ``conv_hsi`` / ``conv_lidar``
    outside the net, ``linear_*``, ``conv_*`` and ``patch_embed_*_clip`` in
    it). The frozen encoder between the two halves is called by the backbone
    (once for all modalities, batched):

    * :meth:`to_tower`: 1x1 conv ``C -> tower_channels`` (3 for CLIP);
    * :meth:`from_embedding`: ``Linear(embedding_dim -> H * W)`` reshaped to
      (B, 1, H, W), 1x1 conv ``1 -> C``, then a :class:`PointwisePatchEmbed`
      ``C -> embed_dims``. ``(H, W)`` is the crop size (the official code
      hard-codes 32 x 32).

    The ``1 -> C`` conv followed by the ``C -> embed_dims`` conv is affine
    (no activation between them), as in the official code; it is kept for
    parameter parity.

    Args:
        in_channels: Channels C of the modality.
        tower_channels: Input channels of the frozen encoder (3 for CLIP).
        embedding_dim: Size of the encoder's pooled embedding (512 for
            CLIP ViT-B/32).
        crop_size: (H, W) of the token grid, i.e. of the input crop.
        embed_dims: Token width D.
        norm_eps: LayerNorm epsilon of the patch embedding.

    Shapes:
        to_tower: (B, C, H, W) -> (B, tower_channels, H, W).
        from_embedding: (B, embedding_dim) -> (B, D, H, W).
    """

    def __init__(self,
                 in_channels: int,
                 tower_channels: int,
                 embedding_dim: int,
                 crop_size: Sequence[int],
                 embed_dims: int,
                 norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.crop_size: tuple[int, int] = (int(crop_size[0]),
                                           int(crop_size[1]))
        height, width = self.crop_size
        self.in_channels = in_channels
        self.tower_adapter = nn.Conv2d(in_channels, tower_channels, 1)
        self.embedding_to_grid = nn.Linear(embedding_dim, height * width)
        self.grid_to_channels = nn.Conv2d(1, in_channels, 1)
        self.patch_embed = PointwisePatchEmbed(in_channels, embed_dims,
                                               norm_eps)
        # Official init for Linear layers (VMamba's _init_weights).
        trunc_normal_(self.embedding_to_grid.weight, std=0.02)
        zeros_(self.embedding_to_grid.bias)

    def to_tower(self, x: Tensor) -> Tensor:
        """Map the modality to the encoder's channel count (same H, W)."""
        return self.tower_adapter(x)

    def from_embedding(self, embedding: Tensor) -> Tensor:
        """Turn the pooled embedding (B, E) into a token map (B, D, H, W)."""
        grid = self.embedding_to_grid(embedding).reshape(
            embedding.shape[0], 1, *self.crop_size)
        return self.patch_embed(self.grid_to_channels(grid))
