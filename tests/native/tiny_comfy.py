"""Small SD 1.x-shaped models built in memory from ComfyUI's own classes: MODEL, VAE, CONTROL_NET, conditioning; and
`run_prompt`, which evaluates an API-format prompt with ComfyUI's real node classes in this process.

They run ComfyUI's real sampling, patching and ControlNet code in well under a second a frame at 64x64 on one CPU
thread. Weights are random from a seed (ComfyUI's layers start uninitialised: every parameter is filled here).
"""

import pytest
import torch

UNET_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 32,
    "num_res_blocks": [1, 1], "channel_mult": [1, 2], "transformer_depth": [1, 1],
    "transformer_depth_output": [1, 1, 1, 1], "transformer_depth_middle": 1, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "use_linear_in_transformer": False, "context_dim": 768,
    "num_heads": 8, "num_head_channels": -1, "use_temporal_attention": False, "use_temporal_resblock": False,
}
VAE_DDCONFIG = {"double_z": True, "z_channels": 4, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 32,
                "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def inference_mode():
    """As ComfyUI's server runs every node: import this fixture into a test module to use it."""
    with torch.inference_mode():
        yield


def randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Fill every parameter: norms at 1 / 0, other weights N(0, 1/fan_in), biases small."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if "norm" in name.rsplit(".", 2)[-2] if "." in name else False:
                parameter.fill_(1.0 if name.endswith("weight") else 0.0)
            elif parameter.ndim == 1:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
            else:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
    return module


def model(seed: int = 0):
    """A MODEL (ModelPatcher over ComfyUI's SD 1.5 BaseModel) with a small UNet."""
    import comfy.model_patcher
    import comfy.supported_models

    config = comfy.supported_models.SD15(dict(UNET_CONFIG))
    config.set_inference_dtype(torch.float32, None)
    base = config.get_model({}, "", device=CPU)
    randomise(base.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(base, load_device=CPU, offload_device=CPU)


def vae(seed: int = 1):
    """A VAE (comfy.sd.VAE) with a small AutoencoderKL of the SD layout (8x down, 4 latent channels)."""
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL

    params = {"embed_dim": 4, "ddconfig": VAE_DDCONFIG}
    weights = randomise(AutoencoderKL(**params), seed).state_dict()
    return comfy.sd.VAE(sd=weights, config={"params": params}, device=CPU, dtype=torch.float32)


def control_net(seed: int = 2):
    """A CONTROL_NET (comfy.controlnet.ControlNet) of the small UNet's shape, zero-convs randomised."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.ops

    config = {key: value for key, value in UNET_CONFIG.items() if key != "out_channels"}
    config.update(hint_channels=3, operations=comfy.ops.disable_weight_init, dtype=torch.float32, device=CPU)
    network = randomise(comfy.cldm.cldm.ControlNet(**config), seed)
    return comfy.controlnet.ControlNet(network, load_device=CPU, manual_cast_dtype=None)


def conditioning(frames: int, seed: int) -> list:
    """Per-frame CONDITIONING as LF Prompt Schedule gives it: one entry, cond [frames, 77, 768], pooled [frames, 768]."""
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(frames, 77, 768, generator=generator),
             {"pooled_output": torch.randn(frames, 768, generator=generator)}]]


def run_prompt(prompt: dict, classes: dict) -> dict:
    """Evaluate an API-format prompt in this process, each node once, in dependency order: {node id: outputs}.

    V1 nodes run through their FUNCTION, V3 nodes (`io.ComfyNode`) through their `execute` classmethod."""
    outputs: dict = {}

    def value(item):
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
            return evaluate(item[0])[item[1]]
        return item

    def evaluate(node_id: str):
        if node_id not in outputs:
            node = prompt[node_id]
            cls = classes[node["class_type"]]
            inputs = {name: value(item) for name, item in node["inputs"].items()}
            if hasattr(cls, "FUNCTION"):
                result = getattr(cls(), cls.FUNCTION)(**inputs)
                outputs[node_id] = result.get("result", ()) if isinstance(result, dict) else result
            else:
                outputs[node_id] = cls.execute(**inputs).result
        return outputs[node_id]

    for node_id in prompt:
        evaluate(node_id)
    return outputs
