"""Per-pixel patch embedding: 1x1 conv to the token width, then LayerNorm."""
from torch import Tensor, nn


class PointwisePatchEmbed(nn.Module):
    """Embed every pixel as a token: 1x1 conv ``C -> embed_dims`` + LayerNorm.

    M3amba (arXiv 2503.06446; official code ``_make_patch_embed`` called with
    ``patch_size=1``) tokenises each modality and each CLIP map this way, so
    the token grid keeps the crop's resolution.

    Args:
        in_channels: Input channels C (any count).
        embed_dims: Token width D.
        norm_eps: LayerNorm epsilon. Defaults to 1e-5 (``nn.LayerNorm``'s,
            as in the official code).
        channels_last: Return (B, H, W, D) instead of (B, D, H, W).

    Shapes:
        (B, C, H, W) -> (B, D, H, W), or (B, H, W, D) with channels_last.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 norm_eps: float = 1e-5,
                 channels_last: bool = False) -> None:
        super().__init__()
        if in_channels < 1 or embed_dims < 1:
            raise ValueError('in_channels and embed_dims must be >= 1, got '
                             f'{in_channels} and {embed_dims}.')
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=1)
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.channels_last = channels_last

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> normalised tokens."""
        x = self.norm(self.proj(x).permute(0, 2, 3, 1))
        return x if self.channels_last else x.permute(0, 3, 1, 2)
