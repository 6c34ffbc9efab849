"""needs_grad: the switch between the layers' inference and autograd paths."""
import torch

from m3plugins.utils.grad_mode import needs_grad


def test_needs_grad_follows_tensors_parameters_and_grad_mode():
    x = torch.rand(2, 3)
    layer = torch.nn.Linear(3, 3)
    assert needs_grad(x, module=layer)                   # parameters
    assert not needs_grad(x, None)                       # plain tensors
    assert needs_grad(None, x.requires_grad_())          # an input
    layer.requires_grad_(False)
    assert not needs_grad(x.detach(), module=layer)      # frozen module
    with torch.no_grad():
        assert not needs_grad(x, module=torch.nn.Linear(3, 3))
    with torch.inference_mode():
        assert not needs_grad(torch.rand(2, requires_grad=False))
