"""Seeded random weights for a model of real shapes, drawn without running its (slow) initialisers.

The model is built on the meta device, so only the shapes exist; each parameter is then drawn the way torch's own
layers initialise themselves: Linear and Conv weights and biases uniform in +-1/sqrt(fan_in), norm scales 1 and
shifts 0, anything else (embeddings, class tokens) normal with std 0.02. Values are rounded to the storage dtype, so a
model that loads the file gets exactly these numbers back.
"""

from __future__ import annotations

import math

import torch

_NORMS = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.BatchNorm2d)


def seeded_state_dict(model: torch.nn.Module, seed: int, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """Every parameter and persistent buffer of `model` (meta or real), drawn from `seed`, in `dtype`."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(prefix=module_name, recurse=False):
            leaf = name.rpartition(".")[2]
            if isinstance(module, _NORMS):
                value = torch.ones(param.shape) if leaf == "weight" else torch.zeros(param.shape)
            elif isinstance(module, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
                value = uniform_fan_in(param.shape, module.weight.shape, generator)
            else:
                value = torch.randn(param.shape, generator=generator) * 0.02
            state[name] = value.to(dtype)
    buffers = dict(model.named_buffers())
    for name, buffer in model.state_dict(keep_vars=True).items():
        if name in buffers and name not in state:  # persistent buffers (e.g. position ids) keep their own values
            if buffer.device.type == "meta":
                raise ValueError(f"buffer '{name}' has no value on the meta device: build this model on the CPU")
            state[name] = buffer.detach().clone()
    return state


def uniform_fan_in(shape: tuple[int, ...], weight_shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """A Linear or Conv weight or bias of `shape`, uniform in +-1/sqrt(fan_in) of its layer's weight (torch's rule)."""
    fan_in = weight_shape[1] * math.prod(weight_shape[2:])
    return (torch.rand(shape, generator=generator) * 2 - 1) / math.sqrt(fan_in)


def on_meta(build):
    """`build()` with its parameters on the meta device: real shapes, no memory, no initialisers run (buffers stay
    real: they are not in the files, but a model filled from a file needs them)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        return build()
