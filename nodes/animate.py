"""Animator nodes: prompt schedule, frame-by-frame animation, video saving, clip report. Logic lives in core/."""

from __future__ import annotations

from ..core import host, schedule, video
from ..core.images import check_image_batch, from_pil

CATEGORY = "LongForm/animate"
SCHEDULE_TYPE = "LF_SCHEDULE"

DEFAULT_SCHEDULE = "0: a sunny forest, a fox, bright daylight\n2s: a stormy night, a fox, rain, lightning"


class LF_PromptSchedule:
    """Parse a keyframed prompt schedule and draw its timeline."""

    DESCRIPTION = (
        "Keyframed prompts for a clip: one `frame: prompt` per line (frames as 12 or 2.5s, an optional `--neg negative`) "
        'or the FizzNodes JSON form `"0": "...", "24": "..."`. Sets the clip length (seconds x fps) and how prompts blend '
        "between keyframes; outputs the schedule and a timeline of each prompt's weight per frame. Every error in the "
        "text is reported at once with its line and column."
    )
    CATEGORY = CATEGORY
    FUNCTION = "build"
    RETURN_TYPES = (SCHEDULE_TYPE, "IMAGE", "INT")
    RETURN_NAMES = ("schedule", "timeline", "frame_count")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "default": DEFAULT_SCHEDULE,
                                    "tooltip": "Keyframes, one `frame: prompt --neg negative` per line, or the JSON "
                                               'form `"0": "prompt", "24": "prompt"`. Frames as numbers or seconds (2.5s).'}),
                "seconds": ("FLOAT", {"default": 4.0, "min": 0.1, "max": 600.0, "step": 0.1,
                                      "tooltip": "Clip length in seconds; frames = round(seconds x fps)."}),
                "fps": ("FLOAT", {"default": 12.0, "min": 1.0, "max": 60.0, "step": 1.0,
                                  "tooltip": "Frames per second of the clip (also converts keyframes given in seconds)."}),
                "interpolation": (list(schedule.INTERPOLATIONS), {
                    "default": "linear",
                    "tooltip": "How prompts blend between keyframes: linear, eased (smoothstep), slerp (spherical, on "
                               "each token's embedding) or step (hold until the next keyframe)."}),
                "negative": ("STRING", {"multiline": True, "default": "blurry, lowres, deformed",
                                        "tooltip": "Negative prompt for keyframes that give no `--neg`."}),
            }
        }

    def build(self, text: str, seconds: float, fps: float, interpolation: str, negative: str):
        frame_count = schedule.frame_count_for(seconds, fps)
        parsed = schedule.parse_schedule(text, frame_count, fps=fps, default_negative=negative,
                                         interpolation=interpolation, field="text")
        return parsed, from_pil(schedule.timeline_image(parsed)), frame_count


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

    def save(self, images, filename_prefix: str, format: str, fps: float, loop: bool):
        batch = check_image_batch(images, "images")
        root = host.output_dir()
        path = video.next_output_path(filename_prefix, video.check_format(format), root)
        video.write_video(video.to_uint8(batch), path, fps=fps, loop=loop)
        subfolder = path.parent.relative_to(root.resolve()).as_posix()
        result = {"filename": path.name, "subfolder": "" if subfolder == "." else subfolder, "type": "output"}
        return {"ui": {"images": [result], "animated": (True,)}, "result": (str(path),)}


NODE_CLASS_MAPPINGS = {
    "LF_PromptSchedule": LF_PromptSchedule,
    "LF_SaveVideo": LF_SaveVideo,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LF_PromptSchedule": "Prompt Schedule",
    "LF_SaveVideo": "Save Video",
}
