"""core/host.py's ComfyUI branch, with ComfyUI really imported: its folders, its device, its progress bar and its
interrupt are the pack's, and the standalone fallbacks (environment variables, set_models_dir, tqdm, the pack's own
interrupt flag) are ignored."""

from pathlib import Path

import pytest
import torch
from PIL import Image


@pytest.fixture
def host(comfy):
    from longform_pack.core import host

    return host


def test_models_dir_is_comfyuis_whatever_the_fallbacks_say(comfy, host, tmp_path, monkeypatch):
    monkeypatch.setenv(host.MODELS_DIR_ENV, str(tmp_path / "elsewhere"))
    previous = host.set_models_dir(tmp_path / "override")
    try:
        assert host.models_dir() == Path(comfy.folder_paths.models_dir) == comfy.base / "models"
    finally:
        host.set_models_dir(previous)


def test_model_files_resolve_through_comfyuis_folder_paths(comfy, host, tmp_path):
    ddpm_dirs = host.model_folder_paths("ddpm")
    assert ddpm_dirs == [Path(p) for p in comfy.folder_paths.get_folder_paths("ddpm")]
    assert ddpm_dirs[0] == comfy.base / "models" / "ddpm"
    # A second folder configured in ComfyUI (as extra_model_paths.yaml does) is searched too.
    extra = tmp_path / "extra_encoders"
    extra.mkdir()
    (extra / "mine.safetensors").write_bytes(b"x")
    comfy.folder_paths.add_model_folder_path("encoders", str(extra))
    try:
        assert extra in host.model_folder_paths("encoders")
        assert "mine.safetensors" in host.list_models("encoders", (".safetensors",))
        assert host.model_path("encoders", "mine.safetensors") == (extra / "mine.safetensors").resolve()
    finally:
        comfy.folder_paths.folder_names_and_paths["encoders"][0].remove(str(extra))
    checkpoint = host.model_path("checkpoints", "longform-tiny-sd15.safetensors")
    assert checkpoint.parent == (comfy.base / "models" / "checkpoints").resolve()


def test_register_model_folders_keeps_a_folder_already_set(comfy, host, tmp_path):
    folders = comfy.folder_paths.folder_names_and_paths
    assert set(host.PACK_MODEL_FOLDERS) <= set(folders)
    saved = folders["ipadapter"]
    folders["ipadapter"] = ([str(tmp_path)], {".bin"})
    try:
        host.register_model_folders()
        assert folders["ipadapter"] == ([str(tmp_path)], {".bin"})
    finally:
        folders["ipadapter"] = saved


def test_output_input_and_temp_dirs_are_comfyuis(comfy, host, tmp_path, monkeypatch):
    monkeypatch.setenv(host.OUTPUT_DIR_ENV, str(tmp_path / "not-this-output"))
    monkeypatch.setenv(host.INPUT_DIR_ENV, str(tmp_path / "not-this-input"))
    assert host.output_dir() == comfy.base / "output"
    assert host.input_dir() == comfy.base / "input"
    assert host.temp_dir() == comfy.base / "temp"
    # ComfyUI's --output-directory / --input-directory / --temp-directory move them, and the pack follows.
    fp = comfy.folder_paths
    saved = fp.get_output_directory(), fp.get_input_directory(), fp.get_temp_directory()
    try:
        fp.set_output_directory(str(tmp_path / "out"))
        fp.set_input_directory(str(tmp_path / "in"))
        fp.set_temp_directory(str(tmp_path / "tmp"))
        assert (host.output_dir(), host.input_dir(), host.temp_dir()) == (
            tmp_path / "out", tmp_path / "in", tmp_path / "tmp")
    finally:
        fp.set_output_directory(saved[0])
        fp.set_input_directory(saved[1])
        fp.set_temp_directory(saved[2])


def test_torch_device_is_the_one_comfyui_chose(comfy, host, monkeypatch):
    assert host.torch_device() == comfy.model_management.get_torch_device() == torch.device("cpu")  # --cpu
    # Whatever ComfyUI picks (a GPU index, --directml, ...), the pack takes it rather than guessing CUDA itself.
    monkeypatch.setattr(comfy.model_management, "get_torch_device", lambda: torch.device("meta"))
    assert host.torch_device() == torch.device("meta")


def test_check_interrupt_raises_comfyuis_exception_when_the_user_cancels(comfy, host):
    mm = comfy.model_management
    host.check_interrupt()  # nothing asked: no exception
    mm.interrupt_current_processing(True)
    with pytest.raises(mm.InterruptProcessingException):
        host.check_interrupt()
    assert not mm.processing_interrupted()  # consumed, as ComfyUI's own loops do
    host.request_interrupt()  # the standalone flag means nothing inside ComfyUI
    try:
        host.check_interrupt()
    finally:
        host.clear_interrupt()


@pytest.fixture
def comfy_bar_calls(comfy):
    """Every (value, total, preview, node id) ComfyUI's progress hook receives during the test; the hook and the
    interrupt flag are put back afterwards."""
    import comfy.utils

    calls = []
    previous = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: calls.append(
        (value, total, preview, node_id)))
    try:
        yield calls
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
        comfy.model_management.interrupt_current_processing(False)


def test_progress_drives_comfyuis_bar_and_stops_on_interrupt(comfy, host, comfy_bar_calls):
    import comfy.model_management

    calls = comfy_bar_calls
    picture = Image.new("RGB", (8, 8), "red")
    with host.progress(4, "sampling") as bar:
        assert bar._tqdm is None  # no terminal bar inside ComfyUI
        bar.update()
        bar.update(2, preview_image=picture)
        comfy.model_management.interrupt_current_processing(True)
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            bar.update()
    assert [(value, total) for value, total, _, _ in calls] == [(1, 4), (3, 4), (4, 4)]
    assert calls[0][2] is None and calls[1][2] == ("JPEG", picture, 512)
    assert {node_id for *_, node_id in calls} == {None}  # the running node's, which ComfyUI's hook looks up


def test_a_bar_can_show_on_another_node(comfy, host, comfy_bar_calls):
    """LF Film's steps: the film's bar shows on LF Film's node, not on the step that updates it."""
    with host.progress(6, "film", node_id="12") as bar:
        bar.update_absolute(4)
    assert comfy_bar_calls == [(4, 6, None, "12")]


def test_a_bar_inside_another_draws_nothing_but_its_previews_and_still_stops(comfy, host, comfy_bar_calls):
    """LF Film animating a scene: ComfyUI's bar follows the film from 0 to its end; the scene's preview shows."""
    import comfy.model_management

    calls = comfy_bar_calls
    picture = Image.new("RGB", (8, 8), "blue")
    with host.progress(10, "film") as film:
        film.update(2)
        with host.progress(3, "scene") as scene:
            scene.update()
            scene.update(preview_image=picture)
        film.update(3)
        with host.progress(5, "scene") as scene:
            comfy.model_management.interrupt_current_processing(True)
            with pytest.raises(comfy.model_management.InterruptProcessingException):
                scene.update()
    comfy.model_management.interrupt_current_processing(False)
    assert [(value, total) for value, total, _, _ in calls] == [(2, 10), (2, 10), (5, 10)]
    assert calls[1][2] == ("JPEG", picture, 512)
    with host.progress(2, "next job") as bar:  # the bars closed: the next job draws again
        assert bar._comfy_bar is not None


def test_a_pack_loop_stops_on_comfyuis_interrupt(comfy, host, tmp_path):
    """DDPM training, cancelled through ComfyUI after its second step, stops there (its progress bar checks)."""
    from longform_pack.core.ddpm import TrainConfig, train

    seen = []

    def cancel_after_two(step, loss):
        seen.append(step)
        if step == 2:
            comfy.model_management.interrupt_current_processing(True)

    config = TrainConfig(steps=10, batch_size=8, base_channels=8, warmup_steps=2, checkpoint_every=1000)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            train(config, callback=cancel_after_two, device="cpu", folder=tmp_path)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert seen == [1, 2]


def test_object_info_comes_from_the_registered_v1_and_v3_node_classes(comfy, host):
    """What the film checks its templates against in-process: ComfyUI's V3 nodes (Wan22ImageToVideoLatent is an
    io.ComfyNode in 0.3.64) describe themselves as the server's /object_info does, V1 nodes through INPUT_TYPES."""
    import asyncio

    from longform_pack.core.film.templates import parse_template
    from test_film_templates import video_template

    for extra in ("nodes_wan.py", "nodes_model_advanced.py"):
        assert asyncio.run(comfy.nodes.load_custom_node(str(comfy.dir / "comfy_extras" / extra),
                                                        module_parent="comfy_extras"))
    template = parse_template(video_template(), "my_video.json")
    info = host.object_info({node["class_type"] for node in template.workflow.values()} | {"ModelSamplingSD3"})
    assert info["Wan22ImageToVideoLatent"]["input"]["required"]["length"][0] == "INT"
    assert hasattr(comfy.nodes.NODE_CLASS_MAPPINGS["Wan22ImageToVideoLatent"], "GET_NODE_INFO_V1")  # V3
    assert list(info["ModelSamplingSD3"]["output"]) == ["MODEL"] and list(info["KSampler"]["output"]) == ["LATENT"]
    template.check(info)
    workflow = video_template()
    workflow["5"]["_meta"]["title"] = "Latent [film:frames=frames]"
    with pytest.raises(ValueError, match="slot 'frames' names input 'frames' of node 5 \\(Latent\\), a "
                                         "Wan22ImageToVideoLatent with inputs vae, width, height, length, batch_size, start_image"):
        parse_template(workflow, "my_video.json").check(info)
