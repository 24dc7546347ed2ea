"""A graph that mixes core nodes (CheckpointLoaderSimple, CLIPTextEncode, KSampler, VAEDecode, ControlNetLoader)
with LF Stylize and LF Animate on the same MODEL, VAE and CONTROL_NET: the checkpoint is read from disk once."""

import torch

from tiny_comfy import run_prompt

CHECKPOINT = "longform-tiny-sd15.safetensors"
CONTROLNET = "longform-tiny-controlnet-scribble.safetensors"


MIXED = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a yellow creature", "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 1, "steps": 2, "cfg": 5.0,
                                               "sampler_name": "euler", "scheduler": "normal", "positive": ["2", 0],
                                               "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}},
    "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    "7": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CONTROLNET}},
    "8": {"class_type": "LF_Stylize", "inputs": {
        "model": ["1", 0], "vae": ["1", 2], "control_net": ["7", 0], "scribble": ["6", 0], "seed": 2, "steps": 2,
        "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "controlnet_strength": 1.0, "control_start": 0.0,
        "control_end": 1.0, "width": 64, "height": 64, "clip": ["1", 1], "prompt": "a creature",
        "negative_prompt": "blurry"}},
    "9": {"class_type": "LF_Animate", "inputs": {
        "model": ["1", 0], "vae": ["1", 2], "positive": ["2", 0], "negative": ["3", 0], "first_frame": ["8", 0],
        "sampler_name": "euler", "scheduler": "normal", "steps": 2, "cfg": 5.0, "strength": "0.5", "seed": 3,
        "seed_mode": "per frame", "cross_frame_attention": True, "color_match": True, "shared_noise": 0.5,
        "fps": 8.0, "mode": "in memory", "frames": 2, "control_net": ["7", 0], "scribble": ["6", 0]}},
}


def test_a_graph_mixing_core_and_lf_nodes_reads_the_checkpoint_once(comfy, pack, monkeypatch):
    import importlib

    utils = importlib.import_module("comfy.utils")
    reads = []
    original = utils.load_torch_file

    def counting(path, *args, **kwargs):
        reads.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(utils, "load_torch_file", counting)
    torch.set_num_threads(1)
    classes = {**comfy.nodes.NODE_CLASS_MAPPINGS, **pack.NODE_CLASS_MAPPINGS}
    with torch.inference_mode():
        outputs = run_prompt(MIXED, classes)
    assert [path for path in reads if path.endswith(CHECKPOINT)] == [
        comfy.folder_paths.get_full_path("checkpoints", CHECKPOINT)]
    assert outputs["9"][0].shape == (2, 64, 64, 3) and outputs["8"][0].shape == (1, 64, 64, 3)
    loaded = [type(entry.model.model).__name__ for entry in comfy.model_management.current_loaded_models]
    assert loaded.count("BaseModel") == 1  # one UNet under ComfyUI's memory manager, shared by every node
