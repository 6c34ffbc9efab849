"""Split spectra into R pieces and embed each piece as one token.

The piece-wise part of SpectralMamba's piece-wise sequential scanning (PSS),
Yao et al., arXiv 2404.08489.
"""
import math

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class SpectralPieceEmbedding(BaseModule):
    """Spectrum of C bands -> sequence of ``num_pieces`` tokens.

    The bands are zero-padded at the end to ``num_pieces * ceil(C /
    num_pieces)`` (a multiple of R; for example 144 bands with R = 6 need no
    padding, 145 bands are padded to 150), cut into R contiguous pieces of
    ``piece_len = ceil(C / R)`` bands, and each piece is embedded to width
    ``embed_dims``:

    * ``share_embedding=True`` (default): one ``Linear(piece_len,
      embed_dims)`` for all pieces plus a learned position embedding per
      piece (``piece_len * d + d + R * d`` parameters). The padded bands only
      meet weights that other pieces train.
    * ``share_embedding=False``: one linear map per piece (``C * d``
      parameters; the weights of padded bands never see a non-zero input).

    Args:
        in_channels (int): Bands C. Default: 144 (Houston2013).
        embed_dims (int): Token width d. Default: 32.
        num_pieces (int): Pieces R (1 <= R <= C). Default: 6, best on
            Houston2013 in the paper.
        share_embedding (bool): Share one piece embedding across pieces.
            Default: True.
        init_cfg (dict, optional): mmengine initialisation config.

    Shapes:
        - input: (N, C) spectra
        - output: (N, R, d) tokens
    """

    def __init__(self,
                 in_channels: int = 144,
                 embed_dims: int = 32,
                 num_pieces: int = 6,
                 share_embedding: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_pieces, int) or num_pieces < 1:
            raise ValueError(
                f'num_pieces must be a positive int, got {num_pieces}')
        if num_pieces > in_channels:
            raise ValueError(f'num_pieces ({num_pieces}) cannot exceed the '
                             f'number of bands ({in_channels})')
        if embed_dims < 1:
            raise ValueError(f'embed_dims must be >= 1, got {embed_dims}')
        self.in_channels = in_channels
        self.num_pieces = num_pieces
        self.embed_dims = embed_dims
        self.piece_len = math.ceil(in_channels / num_pieces)
        self.padded_channels = self.piece_len * num_pieces
        self.share_embedding = share_embedding
        if share_embedding:
            self.proj = nn.Linear(self.piece_len, embed_dims)
            self.pos_embed = nn.Parameter(
                torch.zeros(num_pieces, embed_dims).normal_(std=0.02))
        else:
            self.weight = nn.Parameter(
                torch.empty(num_pieces, self.piece_len, embed_dims).uniform_(
                    -self.piece_len**-0.5, self.piece_len**-0.5))
            self.bias = nn.Parameter(torch.zeros(num_pieces, embed_dims))

    def forward(self, spectra: Tensor) -> Tensor:
        """(N, C) -> (N, R, d)."""
        if spectra.dim() != 2 or spectra.shape[1] != self.in_channels:
            raise ValueError(f'Expected spectra (N, {self.in_channels}), got '
                             f'{tuple(spectra.shape)}')
        padded = F.pad(spectra, (0, self.padded_channels - self.in_channels))
        pieces = padded.view(-1, self.num_pieces, self.piece_len)
        if self.share_embedding:
            return self.proj(pieces) + self.pos_embed
        return torch.einsum('nrl,rld->nrd', pieces, self.weight) + self.bias
