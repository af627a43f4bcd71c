"""The contract of :mod:`longtail.train.batched`: its hand-written forward, loss, backward and SGD
step give the same model as autograd + ``torch.optim.SGD`` (float32, every momentum, nesterov
and weight-decay variant; and bfloat16 GEMMs under ``torch.autocast``). Any change to the
batched maths must keep these passing."""

import pytest
import torch

from longtail.config.study import trial_seed
from longtail.train.batched import (
    cross_entropy_and_grad,
    mlp_forward,
    sgd_backward_step,
    stack_linears,
)
from longtail.train.models import build_model
from longtail.train.recipe import Recipe


@pytest.mark.parametrize(("momentum", "nesterov", "weight_decay"),
                         [(0.9, False, 0.0), (0.9, False, 5e-3), (0.9, True, 5e-3),
                          (0.0, False, 0.0)])
def test_hand_written_backprop_and_sgd_equal_autograd_and_torch_sgd(momentum, nesterov,
                                                                   weight_decay):
    torch.manual_seed(0)
    shape, classes, seed = (1, 4, 4), 3, trial_seed(0, 0)
    recipe = Recipe.with_defaults(lr=0.1, momentum=momentum, nesterov=nesterov,
                                  weight_decay=weight_decay, label_smoothing=0.1)
    model = build_model("mlp", shape, classes, seed)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=momentum,
                          nesterov=nesterov, weight_decay=weight_decay)
    params = stack_linears("mlp", shape, classes, [seed], torch.device("cpu"))
    buffers = [torch.empty_like(p) for p in params]
    grads = [torch.empty_like(p) for p in params]
    for step in range(4):
        x, y = torch.randn(8, *shape), torch.randint(0, classes, (8,))
        loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        keep: list[torch.Tensor] = []
        logits = mlp_forward(params, x.reshape(1, 8, -1), keep)
        losses, dlogits = cross_entropy_and_grad(logits, y[None], 0.1)
        assert torch.allclose(losses[0], loss.detach(), atol=1e-6)
        sgd_backward_step(params, keep, dlogits, grads, buffers, step == 0, recipe.lr, recipe)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    for layer, lin in enumerate(linears):
        torch.testing.assert_close(params[2 * layer][0], lin.weight.detach(), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(params[2 * layer + 1][0, 0], lin.bias.detach(), atol=1e-5,
                                   rtol=1e-4)


def test_bf16_batched_step_equals_autograd_under_autocast():
    """Mixed precision: bfloat16 GEMMs with float32 weights and momentum match autograd under
    torch.autocast(bfloat16) + torch.optim.SGD to bfloat16 accuracy."""
    torch.manual_seed(0)
    shape, classes, seed = (1, 8, 8), 5, trial_seed(0, 1)
    recipe = Recipe.with_defaults(lr=0.1, momentum=0.9, precision="bf16")
    model = build_model("mlp", shape, classes, seed)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    params = stack_linears("mlp", shape, classes, [seed], torch.device("cpu"))
    buffers = [torch.empty_like(p) for p in params]
    grads = [torch.empty_like(p) for p in params]
    compute = [torch.empty_like(p, dtype=torch.bfloat16) for p in params]
    for step in range(4):
        x, y = torch.randn(16, *shape), torch.randint(0, classes, (16,))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits_ref = model(x)
        loss = torch.nn.functional.cross_entropy(logits_ref.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for low, p in zip(compute, params, strict=True):
            low.copy_(p)
        keep: list[torch.Tensor] = []
        with torch.no_grad():
            logits = mlp_forward(compute, x.reshape(1, 16, -1).bfloat16(), keep)
            losses, dlogits = cross_entropy_and_grad(logits.float(), y[None], 0.0)
            sgd_backward_step(params, keep, dlogits, grads, buffers, step == 0, recipe.lr,
                               recipe, compute)
        assert params[0].dtype == torch.float32 and buffers[0].dtype == torch.float32
        torch.testing.assert_close(losses[0], loss.detach(), atol=2e-2, rtol=2e-2)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    for layer, lin in enumerate(linears):
        torch.testing.assert_close(params[2 * layer][0], lin.weight.detach(), atol=2e-3,
                                   rtol=2e-2)
        torch.testing.assert_close(params[2 * layer + 1][0, 0], lin.bias.detach(), atol=2e-3,
                                   rtol=2e-2)
