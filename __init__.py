"""ComfyUI-LongForm: controllable long-form video nodes. This file only registers (ComfyUI V1 node mappings)."""

# ComfyUI imports the pack as a package. pytest, collecting from a clone whose folder name is not a Python name
# (ComfyUI-LongForm), imports this file as a bare module: then there is nothing to register.
if __package__:
    from .core import host
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    if host.in_comfyui():
        host.check_comfyui()
        host.register_model_folders()
        host.hook_model_unloading()

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
