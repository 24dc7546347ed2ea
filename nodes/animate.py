"""Animator nodes: prompt schedule (per-frame CONDITIONING), frame-by-frame animation, video saving, clip report. Logic lives in core/."""

from __future__ import annotations

import json

import torch

from ..core import animate, clip_report, comfy_glue, host, schedule, video
from ..core.checks import validate_inputs
from ..core.images import check_image_batch, from_pil
from ..core.paths import optional_name, safe_name

CATEGORY = "LongForm/animate"
SCHEDULE_TYPE = "LF_SCHEDULE"

DEFAULT_SCHEDULE = "0: a sunny forest, a fox, bright daylight\n2s: a stormy night, a fox, rain, lightning"


class LF_PromptSchedule:
    """Encode a keyframed prompt schedule with a CLIP into per-frame conditioning, and draw its timeline."""

    DESCRIPTION = (
        "Keyframed prompts for a clip: one `frame: prompt` per line (frames as 12 or 2.5s, an optional `--neg negative`) "
        'or the FizzNodes JSON form `"0": "...", "24": "..."`. Sets the clip length (seconds x fps) and how prompts blend '
        "between keyframes. Each distinct prompt is encoded once by the CLIP; positive and negative are CONDITIONING "
        "with one row per frame (cond and pooled output blended), as FizzNodes' Batch Prompt Schedule gives them: "
        "connect them to KSampler over a latent batch of frame_count frames (Empty Latent Image batch_size), to "
        "AnimateDiff, or to LF Animate. Also outputs the schedule and a timeline of each prompt's weight per frame. "
        "Every error in the text is reported at once with its line and column."
    )
    CATEGORY = CATEGORY
    FUNCTION = "build"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", SCHEDULE_TYPE, "IMAGE", "INT")
    RETURN_NAMES = ("positive", "negative", "schedule", "timeline", "frame_count")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "clip": ("CLIP", {"tooltip": "The text encoder that encodes every keyframe's prompt (a checkpoint "
                                             "loader's CLIP, or after a LoRA loader)."}),
                "text": ("STRING", {"multiline": True, "default": DEFAULT_SCHEDULE,
                                    "tooltip": "Keyframes, one `frame: prompt --neg negative` per line, or the JSON "
                                               'form `"0": "prompt", "24": "prompt"`. Frames as numbers or seconds (2.5s).'}),
                "seconds": ("FLOAT", {"default": 4.0, "min": 0.1, "max": 600.0, "step": 0.1,
                                      "tooltip": "Clip length in seconds; frames = round(seconds x fps)."}),
                "fps": ("FLOAT", {"default": 12.0, "min": 1.0, "max": 60.0, "step": 1.0,
                                  "tooltip": "Frames per second of the clip (also converts keyframes given in seconds)."}),
                "interpolation": (list(schedule.INTERPOLATIONS), {
                    "default": "linear",
                    "tooltip": "How prompts blend between keyframes: linear (FizzNodes' weighting), eased "
                               "(smoothstep), slerp (spherical, on each token's encoding) or step (hold until the "
                               "next keyframe)."}),
                "negative": ("STRING", {"multiline": True, "default": "blurry, lowres, deformed",
                                        "tooltip": "Negative prompt for keyframes that give no `--neg`."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, seconds=None, fps=None):
        return validate_inputs(cls, {"seconds": seconds, "fps": fps})

    def build(self, clip, text: str, seconds: float, fps: float, interpolation: str, negative: str):
        frame_count = schedule.frame_count_for(seconds, fps)
        parsed = schedule.parse_schedule(text, frame_count, fps=fps, default_negative=negative,
                                         interpolation=interpolation, field="text")
        positive, negative_conditioning = schedule.schedule_conditioning(clip, parsed)
        return positive, negative_conditioning, parsed, from_pil(schedule.timeline_image(parsed)), frame_count


class LF_SaveVideo:
    """Save an IMAGE batch as a video file in the output folder, with a preview in the UI."""

    DESCRIPTION = (
        "Saves frames as mp4 (H.264), webm (VP9), animated webp or gif into ComfyUI's output folder and shows the "
        "result on the node. webp and gif can loop forever or play once; mp4 and webm carry no loop flag."
    )
    CATEGORY = CATEGORY
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The frames, in order (an animator's output or any IMAGE batch)."}),
                "filename_prefix": ("STRING", {"default": "LongForm/clip",
                                               "tooltip": "File name start inside the output folder; "
                                                          "'folder/name' saves in a subfolder."}),
                "format": (list(video.VIDEO_FORMATS), {"default": "mp4",
                                                       "tooltip": "mp4 (H.264), webm (VP9), webp or gif."}),
                "fps": ("FLOAT", {"default": 12.0, "min": 0.1, "max": 120.0, "step": 0.5,
                                  "tooltip": "Playback frames per second."}),
                "loop": ("BOOLEAN", {"default": True,
                                     "tooltip": "webp/gif: loop forever (on) or play once (off). "
                                                "No effect on mp4/webm."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, fps=None, filename_prefix=None):
        return validate_inputs(cls, {"fps": fps, "filename_prefix": filename_prefix},
                               names={"filename_prefix": safe_name})

    def save(self, images, filename_prefix: str, format: str, fps: float, loop: bool):
        batch = check_image_batch(images, "images")
        root = host.output_dir()
        path = video.next_output_path(filename_prefix, video.check_format(format), root)
        video.write_video(video.to_uint8(batch), path, fps=fps, loop=loop)
        return {"ui": video.ui_preview(path, root), "result": (str(path),)}


class LF_Animate:
    """Animate a first frame into a clip frame by frame, on ComfyUI's MODEL with per-frame conditioning."""

    DESCRIPTION = (
        "Makes a clip frame by frame: each frame is one ComfyUI sampler call (KSampler img2img, denoise = the frame's "
        "strength) on the previous frame, the first from the input image, with that frame's slice of the per-frame "
        "conditioning (LF Prompt Schedule) and, optionally, a ControlNet with the scribble map. Works with any MODEL: "
        "your checkpoint, LoRAs, identity lock. Temporal consistency switches: cross-frame attention to frame 0's keys "
        "and values (Text2Video-Zero, an attn1 patch on a copy of the model), colour matching to the first frame "
        "(LAB mean/std), shared noise. 'stream to disk' writes PNG frames and the video (in chunks) into the output "
        "folder as they are made, returns evenly spaced preview frames only, and resumes from the last frame written "
        "after an interrupt."
    )
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("frames", "video_path")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model (Load Checkpoint, then LoRAs or an identity lock); "
                                               "it is not changed (cross-frame attention patches a copy)."}),
                "vae": ("VAE", {"tooltip": "Encodes each previous frame and decodes the new one."}),
                "positive": ("CONDITIONING", {"tooltip": "Per-frame conditioning (LF Prompt Schedule's positive: "
                                                         "frame i is batch entry i), or one for every frame."}),
                "negative": ("CONDITIONING", {"tooltip": "Per-frame negative conditioning, or one for every frame."}),
                "first_frame": ("IMAGE", {"tooltip": "The clip's starting picture (e.g. the stylized image); its size "
                                                     "is the clip's size (multiples of 8). Only the first of a batch."}),
                "sampler_name": (comfy_glue.sampler_names(), {"tooltip": "ComfyUI's sampler."}),
                "scheduler": (comfy_glue.scheduler_names(), {"tooltip": "ComfyUI's noise schedule."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 10000,
                                  "tooltip": "Sampler steps of every frame (as KSampler's steps at that denoise)."}),
                "cfg": ("FLOAT", {"default": 7.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                  "tooltip": "Classifier-free guidance scale."}),
                "strength": ("STRING", {"default": "0.45", "multiline": True,
                                        "tooltip": "Denoise per frame: one number (0-1), or one `frame: value` per "
                                                   "line, linear in between (e.g. `0: 0.6` then `2s: 0.4`)."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 2**63 - 1, "tooltip": "Random seed of the clip."}),
                "seed_mode": (list(animate.SEED_MODES), {"default": "per frame",
                                                         "tooltip": "fixed: every frame uses the seed; per frame: "
                                                                    "frame k uses seed + k."}),
                "cross_frame_attention": ("BOOLEAN", {"default": True,
                                                      "tooltip": "Self-attention attends to frame 0's keys and values "
                                                                 "at the same noise level (keeps appearance)."}),
                "color_match": ("BOOLEAN", {"default": True,
                                            "tooltip": "Match each frame's LAB mean/std to the first frame's "
                                                       "(stops colour drift along the chain)."}),
                "shared_noise": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                           "tooltip": "Share of a clip-wide noise in every frame's starting noise "
                                                      "(0 = off: KSampler's noise for the frame's seed). Matters in "
                                                      "'per frame' seed mode."}),
                "fps": ("FLOAT", {"default": 12.0, "min": 1.0, "max": 120.0, "step": 1.0,
                                  "tooltip": "Frames per second: of the streamed video, and for strength keyframes "
                                             "given in seconds."}),
                "mode": (["in memory", "stream to disk"], {"default": "in memory",
                                                           "tooltip": "in memory: return every frame. stream to disk: "
                                                                      "frames and video go to the output folder as made; "
                                                                      "returns preview frames (for long clips)."}),
            },
            "optional": {
                "control_net": ("CONTROL_NET", {"tooltip": "A scribble ControlNet (Load ControlNet Model); connect "
                                                           "'scribble' with it."}),
                "scribble": ("IMAGE", {"tooltip": "Scribble map: one for every frame, or a batch of exactly one map "
                                                  "per frame."}),
                "controlnet_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01,
                                                  "tooltip": "How strongly the scribble steers every frame."}),
                "frames": ("INT", {"default": 0, "min": 0, "max": 100000,
                                   "tooltip": "Clip length in frames; 0: as many as the positive conditioning holds "
                                              "(LF Prompt Schedule's frame count)."}),
                "run_name": ("STRING", {"default": "LongForm/animate_run",
                                        "tooltip": "stream to disk: folder in the output folder for frames, chunks and "
                                                   "the video; the same name resumes a stopped run."}),
                "video_format": (list(video.STREAM_FORMATS), {"default": "mp4",
                                                              "tooltip": "stream to disk: video format written in chunks."}),
                "resume": ("BOOLEAN", {"default": True,
                                       "tooltip": "stream to disk: continue a stopped run with the same settings from "
                                                  "its last frame (off: start over, the earlier files set aside in a "
                                                  "dated subfolder)."}),
                "preview_frames": ("INT", {"default": 16, "min": 1, "max": 256,
                                           "tooltip": "stream to disk: how many evenly spaced frames to return."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, cfg=None, controlnet_strength=None, shared_noise=None, fps=None, run_name=None):
        return validate_inputs(cls, {"cfg": cfg, "controlnet_strength": controlnet_strength,
                                     "shared_noise": shared_noise, "fps": fps, "run_name": run_name},
                               names={"run_name": safe_name})

    def run(self, model, vae, positive, negative, first_frame, sampler_name, scheduler, steps, cfg, strength, seed,
            seed_mode, cross_frame_attention, color_match, shared_noise, fps, mode, control_net=None, scribble=None,
            controlnet_strength=1.0, frames=0, run_name="LongForm/animate_run", video_format="mp4", resume=True,
            preview_frames=16):
        first = video.to_uint8(check_image_batch(first_frame, "first_frame"))[0]
        control = video.to_uint8(check_image_batch(scribble, "scribble")) if scribble is not None else None
        settings = animate.AnimateSettings(
            steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler, strength=strength,
            controlnet_strength=controlnet_strength, seed=seed, seed_mode=seed_mode,
            cross_frame_attention=cross_frame_attention, color_match=color_match, shared_noise=shared_noise, fps=fps,
        )
        animator = animate.Animator(model, vae, positive, negative, first, settings, control_net, control, frames)
        if mode != "stream to disk":
            result = animate.animate(animator)
            return torch.from_numpy(result.frames).float() / 255.0, ""
        root = host.output_dir()
        clip = animate.streaming_clip(animator, model, vae, video.output_subdir(run_name, root, "run_name"),
                                      video_format, preview_frames)
        result = animate.animate(animator, clip=clip, resume=resume)
        preview = torch.from_numpy(result.frames).float() / 255.0
        return {"ui": video.ui_preview(clip.video_path, root),
                "result": (preview, str(clip.video_path))}


class LF_ClipReport:
    """Prompt adherence, temporal consistency and identity of a clip: a plot and a JSON summary."""

    DESCRIPTION = (
        "Measures a clip against its schedule with the probe's CLIP: per frame, the similarity to each keyframe prompt "
        "(the curves should cross near each scheduled switch), the similarity and pixel difference of consecutive "
        "frames, and, with a reference picture, the identity score (with the connected CLIP_VISION when there is one). "
        "Outputs one plot and a JSON summary."
    )
    CATEGORY = CATEGORY
    FUNCTION = "report"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("plot", "summary_json")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "Every frame of the clip (the animator's in-memory output)."}),
                "schedule": (SCHEDULE_TYPE, {"tooltip": "The schedule the clip was made with."}),
                "encoder": (host.list_models("encoders", (".safetensors",)),
                            {"tooltip": "A CLIP model in models/encoders (the probe's, e.g. clip-vit-base-patch32)."}),
            },
            "optional": {
                "reference": ("IMAGE", {"tooltip": "The identity reference picture; leave unconnected for no "
                                                   "identity score."}),
                "insightface": ("STRING", {"default": "", "tooltip": "insightface pack for a face identity score, as "
                                                                     "models/<name> (e.g. models/buffalo_l); empty: "
                                                                     "CLIP identity only."}),
                "video_path": ("STRING", {"forceInput": True, "tooltip": "LF Animate's video_path: in 'stream to "
                                          "disk' mode the report reads every frame of the run from disk (frames "
                                          "then holds only previews)."}),
                "clip_vision": ("CLIP_VISION", {"tooltip": "Core Load CLIP Vision's encoder (the identity lock's "
                                                           "ViT-H, loaded once) for the identity score; unconnected: "
                                                           "the probe's CLIP scores identity too."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, insightface=None):
        return validate_inputs(cls, {"insightface": insightface},
                               names={"insightface": optional_name})

    def report(self, frames, schedule, encoder, reference=None, insightface="", video_path="", clip_vision=None):
        result = clip_report.clip_report(frames, schedule, encoder, reference, insightface.strip(), video_path or "",
                                         clip_vision)
        return from_pil(result.plot()), json.dumps(result.summary(), indent=1)


NODE_CLASS_MAPPINGS = {
    "LF_PromptSchedule": LF_PromptSchedule,
    "LF_Animate": LF_Animate,
    "LF_SaveVideo": LF_SaveVideo,
    "LF_ClipReport": LF_ClipReport,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LF_PromptSchedule": "LF Prompt Schedule",
    "LF_Animate": "LF Animate",
    "LF_SaveVideo": "LF Save Video",
    "LF_ClipReport": "LF Clip Report",
}
