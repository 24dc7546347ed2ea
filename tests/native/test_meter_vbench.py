"""The meter's networks inside ComfyUI: loaded through its model management, RAFT and AMT-S kept in fp32."""

import pytest
import torch

from longform_pack.core.meter import features, vbench
from longform_pack.core.tiny.meter import build_amt, build_raft


@pytest.fixture(scope="module")
def networks(comfy):
    """DINO (a manifest stand-in, already built) and the RAFT and AMT-S stand-ins, which have no manifest entry."""
    folder = comfy.base / "models" / vbench.MODEL_FOLDER
    build_raft(folder / vbench.RAFT_TINY_FILENAME)
    build_amt(folder / vbench.AMT_TINY_FILENAME)
    yield features.load_feature_model("dino_vitb16"), vbench.load_raft(), vbench.load_interpolator()
    vbench.clear_cache()  # their ModelPatchers go while ComfyUI is still there to detach them


def test_meter_networks_go_through_comfyuis_model_management(comfy, networks):
    mm = comfy.model_management
    dino, raft, interpolator = networks
    frames = torch.rand(5, 128, 128, 3, generator=torch.Generator().manual_seed(4))
    assert 0.0 < vbench.subject_consistency([frames], dino) < 1.0
    assert vbench.dynamic_degree([frames[:2]], 8, raft) in (0.0, 1.0)
    assert 0.0 < vbench.motion_smoothness([frames[:3]], interpolator) < 1.0

    def loaded():
        return {type(m.model.model.wrapped).__name__ for m in mm.current_loaded_models}

    assert {"DinoViT", "RAFT", "AmtS"} <= loaded(), "a meter network did not go through load_models_gpu"
    assert raft.managed.dtype == interpolator.managed.dtype == torch.float32
    mm.unload_all_models()
    assert not {"DinoViT", "RAFT", "AmtS"} & loaded()
