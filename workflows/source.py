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
INSIGHTFACE_PACK = "models/buffalo_l"
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


def _stylized_pipeline(graph: Graph):
    """Sketch -> scribble map, and the SD 1.5 + scribble ControlNet + pokemon LoRA pipeline."""
    sketch = graph.node("LoadImage", title="Sketch", image=SKETCH)
    scribble = graph.node("LF_SketchToScribble", image=sketch.out(0), width=512, height=512)
    graph.node("PreviewImage", images=scribble.out(1))
    pipeline = graph.node(
        "LF_StylizePipelineLoader",
        checkpoint=SD15,
        controlnet=SCRIBBLE_CONTROLNET,
        lora=POKEMON_LORA,
        lora_strength=0.8,
        scheduler="euler_a",
    )
    return scribble, pipeline


def _stylize(graph: Graph, pipeline, scribble):
    return graph.node(
        "LF_Stylize",
        pipeline=pipeline.out(0),
        scribble=scribble.out(0),
        prompt=STYLE_PROMPT,
        negative_prompt=NEGATIVE_PROMPT,
        seed=42,
        steps=20,
        guidance=7.5,
        controlnet_strength=1.0,
        width=512,
        height=512,
    )


def sketch_to_image() -> Graph:
    """A user's sketch and a prompt become a stylized image (ControlNet scribble + pokemon LoRA)."""
    graph = Graph("sketch_to_image")
    graph.note(
        "Sketch to image.\n\nChange: the sketch (any drawing or photo; the scribble node inverts, thresholds and "
        "thickens lines), the prompt, the LoRA strength (0 = no style), the ControlNet strength (0 = ignore the "
        "sketch), seed and steps.\n\nOut: the scribble map (preview) and the stylized 512x512 image in "
        "output/longform/. Models: python install.py --models stylize."
    )
    scribble, pipeline = _stylized_pipeline(graph)
    image = _stylize(graph, pipeline, scribble)
    graph.node("SaveImage", images=image.out(0), filename_prefix="longform/sketch_to_image")
    return graph


def _identity_locked_pipeline(graph: Graph, weight: float):
    """The character reference, the scribble map, and the stylize pipeline with IP-Adapter plus holding the character."""
    reference = graph.node("LoadImage", title="Character Reference", image=CHARACTER)
    scribble, pipeline = _stylized_pipeline(graph)
    locked = graph.node(
        "LF_IdentityLock",
        pipeline=pipeline.out(0),
        reference=reference.out(0),
        ipadapter=IPADAPTER_PLUS,
        weight=weight,
        clip_vision=CLIP_VISION,
        insightface=INSIGHTFACE_PACK,
    )
    return reference, scribble, locked


def identity_lock() -> Graph:
    """The character reference held by IP-Adapter while the sketch and prompt are stylized, then scored."""
    graph = Graph("identity_lock")
    graph.note(
        "Identity lock.\n\nChange: the character reference, the IP-Adapter file (base, plus, or FaceID for a "
        "photo with a face), its weight (0 = off) and the fraction of steps it acts on (start/end).\n\nOut: the "
        "stylized image with the reference's identity, and an identity score: CLIP image cosine of the result "
        "against the reference, as a plot and text. Models: python install.py --models stylize identity."
    )
    reference, scribble, locked = _identity_locked_pipeline(graph, weight=0.8)
    graph.node("PreviewAny", title="Identity Lock Info", source=locked.out(1))
    image = _stylize(graph, locked, scribble)
    graph.node("SaveImage", images=image.out(0), filename_prefix="longform/identity_lock")
    score = graph.node(
        "LF_IdentityScore", frames=image.out(0), reference=reference.out(0), encoder=f"clip_vision/{CLIP_VISION}"
    )
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
        "and mode 'stream to disk' for long clips (frames go to output/ as they are made; re-queue to resume).\n\n"
        "Out: an mp4 and a gif in output/longform/, the schedule's timeline, and a clip report: prompt adherence "
        "per frame (the curves cross near the switch), frame-to-frame consistency and the identity score."
    )
    reference, scribble, locked = _identity_locked_pipeline(graph, weight=0.7)
    first_frame = _stylize(graph, locked, scribble)
    schedule = graph.node("LF_PromptSchedule", text=SCHEDULE, seconds=4.0, fps=8.0, interpolation="eased")
    graph.node("SaveImage", images=schedule.out(1), filename_prefix="longform/sketch_to_video_timeline")
    frames = graph.node(
        "LF_Animate",
        pipeline=locked.out(0),
        first_frame=first_frame.out(0),
        scribble=scribble.out(0),
        schedule=schedule.out(0),
        steps=20,
        strength="0.45",
        seed=7,
        seed_mode="per frame",
    )
    graph.node("LF_SaveVideo", images=frames.out(0), filename_prefix="longform/sketch_to_video", format="mp4", fps=8.0)
    graph.node("LF_SaveVideo", images=frames.out(0), filename_prefix="longform/sketch_to_video", format="gif", fps=8.0)
    report = graph.node(
        "LF_ClipReport", frames=frames.out(0), schedule=schedule.out(0), encoder=PROBE_CLIP, reference=reference.out(0),
        video_path=frames.out(1),  # in 'stream to disk' mode the report reads every frame of the run from disk
    )
    graph.node("SaveImage", images=report.out(0), filename_prefix="longform/sketch_to_video_report")
    graph.node("PreviewAny", title="Clip Report", source=report.out(1))
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
    "ddpm_train_and_sample": ddpm_train_and_sample,
}
