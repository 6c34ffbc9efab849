"""Cross-modal Prompt-Injected Adapter (CPIA) of MoBaNet.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) runs a
frozen ViT on an optical and a DSM token stream. Before every stage of the
tower, a CPIA looks at the patch tokens of both streams, builds one shared
prompt from them and injects it, with a per-modality affine twist, back into
each stream.
"""

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class CrossModalPromptInjectedAdapter(nn.Module):
    """CPIA: a shared cross-modal prompt injected into two token streams.

    For patch tokens ``x_a`` and ``x_b`` of shape (B, N, C)::

        t   = up(fuse(cat(down_a(x_a), down_b(x_b))))   # shared prompt
        p_m = t * gamma_m + beta_m                      # per modality
        x_m = x_m + t + p_m                             # returned

    with ``down_*: C -> hidden``, ``fuse: 2 * hidden -> hidden`` and
    ``up: hidden -> C`` linear layers (hidden = 256 for ViT-L, ratio 0.25),
    ``gamma_m ~ N(1, 0.02)`` and ``beta_m ~ N(0, 0.02)`` (C-vectors).

    The chain is affine on purpose: the official CPIA block creates a GELU
    but never applies it, so the reproduced network has no non-linearity
    between the projections. ``activation`` lets you insert one after the
    fusion projection (``dict(type='GELU')``, a departure from the official
    model); the default ``None`` is faithful.

    Args:
        embed_dim: Token width C of the tower (1024 for ViT-L).
        ratio: hidden = int(embed_dim * ratio); the official value is 0.25.
        activation: Optional activation config (MMSeg/mmcv style, e.g.
            ``dict(type='GELU')``) after the fusion projection.
        affine_std: Standard deviation of the gamma / beta initialisation.
    """

    def __init__(self,
                 embed_dim: int = 1024,
                 ratio: float = 0.25,
                 activation: dict = None,
                 affine_std: float = 0.02):
        super().__init__()
        hidden = int(embed_dim * ratio)
        if hidden < 1:
            raise ValueError(f'embed_dim * ratio must be >= 1, got '
                             f'{embed_dim} * {ratio}.')
        self.embed_dim = embed_dim
        self.hidden_dim = hidden
        self.down_a = nn.Linear(embed_dim, hidden)
        self.down_b = nn.Linear(embed_dim, hidden)
        self.fuse = nn.Linear(2 * hidden, hidden)
        self.up = nn.Linear(hidden, embed_dim)
        if activation is None:
            self.activation = nn.Identity()
        else:
            from mmcv.cnn import build_activation_layer
            self.activation = build_activation_layer(activation)
        self.gamma_a = nn.Parameter(torch.empty(embed_dim))
        self.beta_a = nn.Parameter(torch.empty(embed_dim))
        self.gamma_b = nn.Parameter(torch.empty(embed_dim))
        self.beta_b = nn.Parameter(torch.empty(embed_dim))
        for gamma, beta in ((self.gamma_a, self.beta_a),
                            (self.gamma_b, self.beta_b)):
            nn.init.normal_(gamma, mean=1.0, std=affine_std)
            nn.init.normal_(beta, mean=0.0, std=affine_std)

    def prompt(self, tokens_a: Tensor, tokens_b: Tensor) -> Tensor:
        """The shared prompt t (B, N, C) of two (B, N, C) token sets."""
        fused = self.fuse(
            torch.cat([self.down_a(tokens_a),
                       self.down_b(tokens_b)], dim=-1))
        return self.up(self.activation(fused))

    def forward(self, tokens_a: Tensor,
                tokens_b: Tensor) -> tuple[Tensor, Tensor]:
        """Inject the prompt into both streams.

        Args:
            tokens_a: Patch tokens of the first (optical) stream, (B, N, C).
            tokens_b: Patch tokens of the second (DSM) stream, (B, N, C).

        Returns:
            tuple[Tensor, Tensor]: Updated tokens, each (B, N, C).
        """
        if tokens_a.shape != tokens_b.shape:
            raise ValueError('CPIA needs token sets of one shape, got '
                             f'{tuple(tokens_a.shape)} and '
                             f'{tuple(tokens_b.shape)}.')
        if tokens_a.shape[-1] != self.embed_dim:
            raise ValueError(f'CPIA expects width {self.embed_dim}, got '
                             f'{tokens_a.shape[-1]}.')
        shared = self.prompt(tokens_a, tokens_b)
        prompt_a = shared * self.gamma_a + self.beta_a
        prompt_b = shared * self.gamma_b + self.beta_b
        return tokens_a + shared + prompt_a, tokens_b + shared + prompt_b
