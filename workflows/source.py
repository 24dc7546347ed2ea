"""The one source of the shipped workflows: each function returns a Graph that `make workflows` writes twice,
as workflows/<name>.json (UI format, drag onto the canvas) and workflows/api/<name>.json (API format, for POST /prompt).

Models are named by the manifest's real filenames; the host tests swap each for its tiny stand-in.
"""

from workflow_graph import Graph

SD15 = "v1-5-pruned-emaonly.safetensors"
SCRIBBLE_CONTROLNET = "control_v11p_sd15_scribble_fp16.safetensors"
POKEMON_LORA = "pokemon_lora_sd15.safetensors"
IPADAPTER_PLUS = "ip-adapter-plus_sd15.safetensors"
CLIP_VISION = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"
PROBE_CLIP = "clip-vit-base-patch32.safetensors"

SKETCH = "longform_sketch.png"
CHARACTER = "longform_character.png"
STYLE_PROMPT = "a cute yellow pokemon creature with red cheeks, pokemon style, clean lines, simple background"
NEGATIVE_PROMPT = "lowres, blurry, deformed, text, watermark"


def clip_probe() -> Graph:
    """Images and texts into CLIP's shared space: the one-node path and the composable one side by side."""
    graph = Graph("clip_probe")
    graph.note(
        "CLIP similarity probe.\n\nChange: the two Load Image nodes, the label lines (one per line), or the encoder "
        "(kind clip, resnet50 or bert; ResNet-50 image vectors and BERT text vectors share no space, so the "
        "similarity node refuses to compare them).\n\nOut: a table of cosine similarities and CLIP probabilities, "
        "the best label per image, a heatmap with the labels written on it, and the CLIP/BERT tokenization of a "
        "sentence. Models: clip-vit-base-patch32.safetensors in models/encoders (python install.py --models probe)."
    )
    character = graph.node("LoadImage", title="Character", image=CHARACTER)
    sketch = graph.node("LoadImage", title="Sketch", image=SKETCH)
    images = graph.node("ImageBatch", image1=character.out(0), image2=sketch.out(0))
    labels = "a yellow cartoon creature\na black and white pencil sketch\na photo of a city at night"
    quick = graph.node("LF_ClipProbe", title="Clip Probe", images=images.out(0), texts=labels, encoder_file=PROBE_CLIP)
    graph.node("PreviewAny", title="Similarity Table", source=quick.out(0))
    graph.node("SaveImage", images=quick.out(1), filename_prefix="longform/clip_probe_heatmap")

    encoder = graph.node("LF_ProbeEncoderLoader", title="CLIP Encoder", kind="clip", encoder_file=PROBE_CLIP)
    image_vectors = graph.node("LF_ProbeEncodeImages", encoder=encoder.out(0), images=images.out(0))
    text_vectors = graph.node("LF_ProbeEncodeTexts", encoder=encoder.out(0), texts=labels)
    similarity = graph.node("LF_ProbeSimilarity", a=image_vectors.out(0), b=text_vectors.out(0))
    graph.node("PreviewAny", title="Best Labels", source=similarity.out(2))
    graph.node("SaveImage", images=similarity.out(3), filename_prefix="longform/clip_probe_matrix")
    tokens = graph.node("LF_ProbeTokenView", text="a photo of a cat wearing sunglasses", tokenizer="both")
    graph.node("PreviewAny", title="Tokens", source=tokens.out(0))
    return graph


def _models(graph: Graph, control: bool = True):
    """The checkpoint (MODEL, CLIP, VAE) with the pokemon LoRA on MODEL and CLIP, and the scribble ControlNet."""
    checkpoint = graph.node("CheckpointLoaderSimple", title="Load Checkpoint", ckpt_name=SD15)
    lora = graph.node("LF_LoraLoader", title="Pokemon Style LoRA", model=checkpoint.out(0), clip=checkpoint.out(1),
                      lora_name=POKEMON_LORA, strength_model=0.8, strength_clip=0.8)
    graph.node("PreviewAny", title="LoRA Report", source=lora.out(2))
    if not control:
        return checkpoint, lora, None
    control_net = graph.node("ControlNetLoader", title="Scribble ControlNet", control_net_name=SCRIBBLE_CONTROLNET)
    return checkpoint, lora, control_net


def _scribble(graph: Graph):
    """The user's sketch as a clean 512x512 scribble map, with its preview."""
    sketch = graph.node("LoadImage", title="Sketch", image=SKETCH)
    scribble = graph.node("LF_SketchToScribble", image=sketch.out(0), width=512, height=512)
    graph.node("PreviewImage", images=scribble.out(1))
    return scribble


def _stylize(graph: Graph, model, clip, vae, control_net, scribble):
    """Prompt + scribble -> an image with core nodes: CLIPTextEncode, ControlNetApplyAdvanced, KSampler, VAEDecode."""
    positive = graph.node("CLIPTextEncode", title="Prompt", text=STYLE_PROMPT, clip=clip)
    negative = graph.node("CLIPTextEncode", title="Negative Prompt", text=NEGATIVE_PROMPT, clip=clip)
    controlled = graph.node("ControlNetApplyAdvanced", positive=positive.out(0), negative=negative.out(0),
                            control_net=control_net.out(0), image=scribble.out(0), strength=1.0, start_percent=0.0,
                            end_percent=1.0, vae=vae)
    latent = graph.node("EmptyLatentImage", width=512, height=512, batch_size=1)
    samples = graph.node("KSampler", model=model, seed=42, steps=20, cfg=7.5, sampler_name="euler_ancestral",
                         scheduler="normal", positive=controlled.out(0), negative=controlled.out(1),
                         latent_image=latent.out(0), denoise=1.0)
    return graph.node("VAEDecode", samples=samples.out(0), vae=vae)


def sketch_to_image() -> Graph:
    """A user's sketch and a prompt become a stylized image (ControlNet scribble + pokemon LoRA), all core nodes."""
    graph = Graph("sketch_to_image")
    graph.note(
        "Sketch to image.\n\nChange: the sketch (any drawing or photo; the scribble node inverts, thresholds and "
        "thickens lines), the prompt, the LoRA strength (0 = no style), the ControlNet strength (0 = ignore the "
        "sketch), seed and steps. Core nodes load and sample: swap in your own checkpoint, LoRA stack or sampler."
        "\n\nOut: the scribble map (preview) and the stylized 512x512 image in output/longform/. Models: python "
        "install.py --models stylize."
    )
    checkpoint, lora, control_net = _models(graph)
    image = _stylize(graph, lora.out(0), lora.out(1), checkpoint.out(2), control_net, _scribble(graph))
    graph.node("SaveImage", images=image.out(0), filename_prefix="longform/sketch_to_image")
    return graph


def _identity(graph: Graph, model, weight: float):
    """The character reference and core Load CLIP Vision's ViT-H, and the MODEL with IP-Adapter plus holding the
    character (LF Identity Lock: a patched clone, any sampler can use it)."""
    reference = graph.node("LoadImage", title="Character Reference", image=CHARACTER)
    clip_vision = graph.node("CLIPVisionLoader", title="Load CLIP Vision", clip_name=CLIP_VISION)
    locked = graph.node("LF_IdentityLock", model=model, reference=reference.out(0), ipadapter=IPADAPTER_PLUS,
                        weight=weight, start_at=0.0, end_at=1.0, clip_vision=clip_vision.out(0))
    graph.node("PreviewAny", title="Identity Lock Info", source=locked.out(1))
    return reference, clip_vision, locked


def identity_lock() -> Graph:
    """The character reference held by IP-Adapter on the MODEL while the sketch and prompt are stylized, then scored."""
    graph = Graph("identity_lock")
    graph.note(
        "Identity lock.\n\nChange: the character reference, the IP-Adapter file (base, plus, or FaceID for a "
        "photo with a face, with an insightface pack), its weight (0 = off) and the fraction of sampling it acts on "
        "(start/end). The lock patches a copy of the MODEL: put it before any KSampler, after any LoRA.\n\nOut: "
        "the stylized image with the reference's identity, and an identity score: the cosine of the result and the "
        "reference in the same ViT-H the lock uses, as a plot and text. Models: python install.py --models stylize "
        "identity."
    )
    checkpoint, lora, control_net = _models(graph)
    reference, clip_vision, locked = _identity(graph, lora.out(0), weight=0.8)
    image = _stylize(graph, locked.out(0), lora.out(1), checkpoint.out(2), control_net, _scribble(graph))
    graph.node("SaveImage", images=image.out(0), filename_prefix="longform/identity_lock")
    score = graph.node("LF_IdentityScore", frames=image.out(0), reference=reference.out(0),
                       encoder="clip_vision input", clip_vision=clip_vision.out(0))
    graph.node("SaveImage", images=score.out(0), filename_prefix="longform/identity_score")
    graph.node("PreviewAny", title="Identity Score", source=score.out(1))
    return graph


SCHEDULE = (
    "0: a cute yellow pokemon creature in a sunny forest, bright daylight, green leaves\n"
    "1.5s: a cute yellow pokemon creature in a sunny forest, bright daylight, green leaves\n"
    "2.5s: a cute yellow pokemon creature in a stormy night, dark clouds, rain, lightning"
)


def sketch_to_video() -> Graph:
    """The whole chain: sketch -> stylize -> identity lock -> animate with a prompt schedule -> video + report."""
    graph = Graph("sketch_to_video")
    graph.note(
        "Sketch to video.\n\nChange: the schedule (one `frame: prompt` per line; frames as numbers or seconds "
        "like 2.5s; the scene blends between keyframes), seconds and fps, the denoising strength (lower keeps more "
        "of the previous frame), the consistency switches (cross-frame attention, colour matching, shared noise), "
        "and mode 'stream to disk' for long clips (frames go to output/ as they are made; re-queue to resume). "
        "Core nodes load and sample the first frame; LF Animate takes the same MODEL (LoRA and identity lock "
        "applied), VAE and ControlNet, and the schedule's per-frame conditioning.\n\n"
        "Out: an mp4 and a gif in output/longform/, the schedule's timeline, and a clip report: prompt adherence "
        "per frame (the curves cross near the switch), frame-to-frame consistency and the identity score, beside "
        "the video report (flicker, motion guard, cuts, colour drift, drift curve; docs/meter.md)."
    )
    checkpoint, lora, control_net = _models(graph)
    clip, vae = lora.out(1), checkpoint.out(2)
    reference, clip_vision, locked = _identity(graph, lora.out(0), weight=0.7)
    scribble = _scribble(graph)
    first_frame = _stylize(graph, locked.out(0), clip, vae, control_net, scribble)
    schedule = graph.node("LF_PromptSchedule", clip=clip, text=SCHEDULE, seconds=4.0, fps=8.0,
                          interpolation="eased", negative=NEGATIVE_PROMPT)
    graph.node("SaveImage", images=schedule.out(3), filename_prefix="longform/sketch_to_video_timeline")
    frames = graph.node(
        "LF_Animate", model=locked.out(0), vae=vae, positive=schedule.out(0), negative=schedule.out(1),
        first_frame=first_frame.out(0), control_net=control_net.out(0), scribble=scribble.out(0),
        sampler_name="euler_ancestral", scheduler="normal", steps=10, cfg=7.0, strength="0.45", seed=7,
        seed_mode="per frame", fps=8.0,
    )
    graph.node("LF_SaveVideo", images=frames.out(0), filename_prefix="longform/sketch_to_video", format="mp4", fps=8.0)
    graph.node("LF_SaveVideo", images=frames.out(0), filename_prefix="longform/sketch_to_video", format="gif", fps=8.0)
    report = graph.node(
        "LF_ClipReport", frames=frames.out(0), schedule=schedule.out(2), encoder=PROBE_CLIP, reference=reference.out(0),
        video_path=frames.out(1),  # in 'stream to disk' mode the report reads every frame of the run from disk
        clip_vision=clip_vision.out(0),
    )
    meter = graph.node("LF_VideoReport", title="Video Report", images=frames.out(0), fps=8.0)
    both = graph.node("ImageStitch", image1=report.out(0), image2=meter.out(1), direction="down",
                      match_image_size=True, spacing_width=0, spacing_color="white")  # one picture, the two reports
    graph.node("SaveImage", images=both.out(0), filename_prefix="longform/sketch_to_video_report")
    graph.node("PreviewAny", title="Clip Report", source=report.out(1))
    return graph


EXAMPLE_VIDEO = "longform_clip.mp4"


def video_report() -> Graph:
    """Any video file measured by the consistency meter: drift, flicker, cuts, motion, colour."""
    graph = Graph("video_report")
    graph.note(
        "Video report (the consistency meter).\n\nChange: the video (any mp4/webm/mov/gif in ComfyUI's input or "
        "output folder; the example pans over the character, warms in colour, then cuts to the sketch), fps (0: the "
        "file's own), and optionally the storyboard it was rendered from (seams and prompt-switch latency; with the "
        "probe's CLIP as encoder). Or disconnect the file and connect any IMAGE batch.\n\nOut: a plot (stills on "
        "the time line, cuts marked, per-frame similarity, flow, colour drift and warp error, the drift curve) and "
        "the JSON report; docs/meter.md defines each figure. VBench's model-based figures need python install.py "
        "--models meter; without it the static flag, cuts, colour drift and flicker are still measured."
    )
    report = graph.node("LF_VideoReport", title="Video Report", video=EXAMPLE_VIDEO, fps=0.0, storyboard="none",
                        encoder="none")
    graph.node("SaveImage", images=report.out(1), filename_prefix="longform/video_report")
    graph.node("PreviewAny", title="Report JSON", source=report.out(0))
    return graph


BATCH_SECONDS, BATCH_FPS = 2.0, 8.0
BATCH_SCHEDULE = (
    "0: a cute yellow pokemon creature in a sunny forest, bright daylight, green leaves\n"
    "0.5s: a cute yellow pokemon creature in a sunny forest, bright daylight, green leaves\n"
    "1.5s: a cute yellow pokemon creature in a stormy night, dark clouds, rain, lightning"
)


def schedule_to_ksampler() -> Graph:
    """The prompt schedule's per-frame conditioning driving a core KSampler over a latent batch, one latent a frame."""
    graph = Graph("schedule_to_ksampler")
    frame_count = round(BATCH_SECONDS * BATCH_FPS)
    graph.note(
        "Prompt schedule into core KSampler.\n\nLF Prompt Schedule encodes its keyframes with the checkpoint's "
        "CLIP and gives one conditioning row per frame (cond and pooled output blended), as FizzNodes' Batch Prompt "
        "Schedule does: any sampler that takes a latent batch uses it. Here core KSampler denoises an Empty Latent "
        f"Image of batch {frame_count} (= seconds x fps: change both together), every frame from its own noise, "
        "and LF Save Video writes the batch as a clip. Swap KSampler for AnimateDiff's sampler to make the frames "
        "move together.\n\nOut: the clip (mp4) and the schedule's timeline in output/longform/. Models: python "
        "install.py --models stylize."
    )
    checkpoint, lora, _ = _models(graph, control=False)
    schedule = graph.node("LF_PromptSchedule", clip=lora.out(1), text=BATCH_SCHEDULE, seconds=BATCH_SECONDS,
                          fps=BATCH_FPS, interpolation="linear", negative=NEGATIVE_PROMPT)
    graph.node("SaveImage", images=schedule.out(3), filename_prefix="longform/schedule_to_ksampler_timeline")
    latent = graph.node("EmptyLatentImage", width=512, height=512, batch_size=frame_count)
    samples = graph.node("KSampler", model=lora.out(0), seed=3, steps=20, cfg=7.0, sampler_name="euler_ancestral",
                         scheduler="normal", positive=schedule.out(0), negative=schedule.out(1),
                         latent_image=latent.out(0), denoise=1.0)
    frames = graph.node("VAEDecode", samples=samples.out(0), vae=checkpoint.out(2))
    graph.node("LF_SaveVideo", images=frames.out(0), filename_prefix="longform/schedule_to_ksampler", format="mp4",
               fps=BATCH_FPS)
    return graph


def ddpm_train_and_sample() -> Graph:
    """The from-scratch DDPM: trained on the digits, then sampled with classifier-free guidance, every step shown."""
    graph = Graph("ddpm_train_and_sample")
    graph.note(
        "Tiny conditional DDPM, written from scratch.\n\nChange: the dataset ('digits', or a folder in "
        "ComfyUI/input with one subfolder of images per label), steps (the default recipe trains in about 3 "
        "minutes on 2 CPU cores; queueing again with more steps continues the run), the labels to sample (one per "
        "line, 'label x N' repeats), the guidance scale (0 ignores the labels, 1 is the plain conditional model, "
        "3 follows them closely), sampler and steps.\n\nOut: models/ddpm/digits.safetensors, the loss curve, the "
        "samples in a labelled grid, the denoising strip (x_t and the predicted x_0 from noise to digit) and its "
        "animation in output/longform/. No downloads."
    )
    trainer = graph.node("LF_DDPMTrain", dataset="digits", name="digits")
    graph.node("SaveImage", images=trainer.out(1), filename_prefix="longform/ddpm_loss")
    graph.node("PreviewAny", title="Training Summary", source=trainer.out(2))
    samples = graph.node(
        "LF_DDPMSample",
        model=trainer.out(0),
        labels="\n".join(f"{digit} x 8" for digit in range(10)),
        guidance=3.0,
        sampler="ddim",
        steps=50,
        seed=0,
        filename_prefix="longform/ddpm_denoising",
    )
    graph.node("SaveImage", images=samples.out(1), filename_prefix="longform/ddpm_grid")
    graph.node("SaveImage", images=samples.out(2), filename_prefix="longform/ddpm_strip")
    return graph


WORKFLOWS = {
    "clip_probe": clip_probe,
    "sketch_to_image": sketch_to_image,
    "identity_lock": identity_lock,
    "sketch_to_video": sketch_to_video,
    "schedule_to_ksampler": schedule_to_ksampler,
    "ddpm_train_and_sample": ddpm_train_and_sample,
    "video_report": video_report,
}
