"""Piece-wise sequential scanning (PSS) with S6, for every pixel at once.

Yao, Hong, Li, Chanussot, "SpectralMamba: Efficient Mamba for Hyperspectral
Image Classification", arXiv 2404.08489.
"""

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from m3plugins.ops.selective_scan_chunked import blocks_for_cache
from m3plugins.utils.grad_mode import needs_grad

from .spectral_piece_embedding import SpectralPieceEmbedding
from .spectral_s6_block import SpectralS6Block

#: Ways to pool the piece sequence into one feature per pixel.
PIECE_POOLINGS = ('mean', 'max')


@MODELS.register_module()
class PiecewiseSequentialScan(BaseModule):
    """Embed R spectral pieces per pixel, scan them with S6, pool.

    Every pixel of a (B, C, H, W) map is one sequence: the pixels become the
    batch of the selective scan (B * H * W sequences of length R, or R + 1
    with an auxiliary token), so the module is strictly pixel-local and a
    whole scene is processed in one call. ``pixel_chunk_size`` bounds the
    memory by scanning that many pixels at a time (exact: pixels are
    independent).

    Pipeline per pixel: :class:`SpectralPieceEmbedding` (R tokens of width d)
    -> optional auxiliary token appended (e.g. an embedded LiDAR/SAR
    vector) -> ``depth`` x :class:`SpectralS6Block` -> LayerNorm -> pooling
    over the sequence (``'mean'`` default, or ``'max'``).

    Args:
        in_channels (int): Bands C of the (merged) spectrum. Default: 144
            (Houston2013).
        embed_dims (int): Token width d. Default: 32.
        num_pieces (int): Pieces R. Default: 6.
        depth (int): Number of S6 blocks. Default: 2.
        share_piece_embedding (bool): See :class:`SpectralPieceEmbedding`.
            Default: True.
        pooling (str): One of ``PIECE_POOLINGS``. Default: 'mean'.
        pixel_chunk_size (int, optional): Pixels per scan call; None scans
            all at once. Default: 8192.
        inference_pixel_chunk_size (int, optional): Pixels per scan call
            on a CPU when no gradient is needed (inference), if smaller than
            ``pixel_chunk_size``; None uses ``pixel_chunk_size``. Exact like
            any chunking. Default: 512 (all per-chunk tensors, about 0.5 MB
            each, stay in cache; ``tools/benchmark_hsi.py`` times
            whole-scene inference).
        block_cfg (dict, optional): Extra arguments of every
            :class:`SpectralS6Block` (state_dims, expand, bidirectional,
            conv_kernel_size, scan_backend, ...).
        init_cfg (dict, optional): mmengine initialisation config.

    Shapes:
        - spectrum: (B, C, H, W)
        - extra_token (optional): (B, d, H, W)
        - output: (B, d, H, W)
    """

    def __init__(self,
                 in_channels: int = 144,
                 embed_dims: int = 32,
                 num_pieces: int = 6,
                 depth: int = 2,
                 share_piece_embedding: bool = True,
                 pooling: str = 'mean',
                 pixel_chunk_size: int | None = 8192,
                 inference_pixel_chunk_size: int | None = 512,
                 block_cfg: dict | None = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if pooling not in PIECE_POOLINGS:
            raise ValueError(
                f'pooling must be one of {PIECE_POOLINGS}, got {pooling!r}')
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f'depth must be a positive int, got {depth}')
        if pixel_chunk_size is not None and pixel_chunk_size < 1:
            raise ValueError(
                'pixel_chunk_size must be >= 1 or None, '
                f'got {pixel_chunk_size}')
        if (inference_pixel_chunk_size is not None
                and inference_pixel_chunk_size < 1):
            raise ValueError(
                'inference_pixel_chunk_size must be >= 1 or None, '
                f'got {inference_pixel_chunk_size}')
        self.embed_dims = embed_dims
        self.pooling = pooling
        self.pixel_chunk_size = pixel_chunk_size
        self.inference_pixel_chunk_size = inference_pixel_chunk_size
        self.embedding = SpectralPieceEmbedding(
            in_channels, embed_dims, num_pieces, share_piece_embedding)
        self.blocks = nn.ModuleList([
            SpectralS6Block(embed_dims, **(block_cfg or {}))
            for _ in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dims)

    def scan_pixels(self, spectra: Tensor,
                    extra_token: Tensor | None = None) -> Tensor:
        """(N, C) spectra [+ (N, d) extra token] -> (N, d) features."""
        tokens = self.embedding(spectra)
        if extra_token is not None:
            tokens = torch.cat([tokens, extra_token[:, None]], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)
        if self.pooling == 'mean':
            return tokens.mean(dim=1)
        return tokens.amax(dim=1)

    def forward(self,
                spectrum: Tensor,
                extra_token: Tensor | None = None,
                pixel_mask: Tensor | None = None) -> Tensor:
        """(B, C, H, W) [+ (B, d, H, W)] -> (B, d, H, W).

        Args:
            spectrum: (B, C, H, W) merged spectrum.
            extra_token: Optional (B, d, H, W) auxiliary token per pixel.
            pixel_mask: Optional (B, H, W) bool: scan only these pixels; the
                others get zero features (pixels are independent, so the
                selected ones are exactly what a full scan gives them).
                Training with sparse labels uses it to skip pixels no loss
                term depends on.
        """
        batch, channels, height, width = spectrum.shape
        chunk = self.pixel_chunk_size or max(height * width, 1)
        if self.inference_pixel_chunk_size is not None and \
                blocks_for_cache(spectrum.device) and \
                not needs_grad(spectrum, module=self):
            chunk = min(chunk, self.inference_pixel_chunk_size)
        if pixel_mask is not None:
            return self._scan_masked(spectrum, extra_token, pixel_mask, chunk)
        if height * width >= chunk:
            # Large images (a whole scene): chunks of (B, H*W, C) views, so
            # the scene-sized (B*H*W, C) copy is never made.
            pixels = spectrum.flatten(2).transpose(1, 2)
            extra = None if extra_token is None else \
                extra_token.flatten(2).transpose(1, 2)
            spans = [(b, start) for b in range(batch)
                     for start in range(0, height * width, chunk)]
        else:
            # Batches of small windows: chunks may span several windows.
            pixels = spectrum.permute(0, 2, 3, 1).reshape(1, -1, channels)
            extra = None if extra_token is None else \
                extra_token.permute(0, 2, 3, 1).reshape(
                    1, -1, extra_token.shape[1])
            spans = [(0, start)
                     for start in range(0, pixels.shape[1], chunk)]
        feats = [
            self.scan_pixels(
                pixels[b, start:start + chunk],
                None if extra is None else extra[b, start:start + chunk])
            for b, start in spans
        ]
        feats = torch.cat(feats) if len(feats) > 1 else feats[0]
        return feats.view(batch, height, width, -1).permute(0, 3, 1, 2)

    def _scan_masked(self, spectrum: Tensor, extra_token: Tensor | None,
                     pixel_mask: Tensor, chunk: int) -> Tensor:
        """:meth:`forward` scanning only the ``pixel_mask`` pixels."""
        batch, channels, height, width = spectrum.shape
        if pixel_mask.shape != (batch, height, width):
            raise ValueError(
                f'pixel_mask must be {(batch, height, width)}, got '
                f'{tuple(pixel_mask.shape)}')
        index = pixel_mask.reshape(-1).nonzero().squeeze(1)
        spectra = spectrum.permute(0, 2, 3, 1).reshape(
            -1, channels).index_select(0, index)
        extra = None
        if extra_token is not None:
            extra = extra_token.permute(0, 2, 3, 1).reshape(
                -1, extra_token.shape[1]).index_select(0, index)
        feats = [
            self.scan_pixels(
                spectra[start:start + chunk],
                None if extra is None else extra[start:start + chunk])
            for start in range(0, spectra.shape[0], chunk)
        ]
        if not feats:  # an empty mask: nothing to scan
            feats = [spectra.new_zeros((0, self.embed_dims))]
        feats = torch.cat(feats) if len(feats) > 1 else feats[0]
        feats = feats.new_zeros(batch * height * width,
                                feats.shape[1]).index_copy(0, index, feats)
        return feats.view(batch, height, width, -1).permute(0, 3, 1, 2)
