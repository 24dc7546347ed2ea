"""ComfyUI-LongForm: controllable long-form video nodes. This file only registers (ComfyUI V1 node mappings)."""

from .core import host
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

if host.in_comfyui():
    host.register_model_folders()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
