"""The consistency meter's node: a report of any video (an IMAGE batch or a file). Logic lives in core/meter/."""

from __future__ import annotations

import json

from ..core import host
from ..core.checks import validate_inputs
from ..core.images import from_pil
from ..core.paths import readable_path, safe_name
from ..core.video import check_fps
from .film import list_storyboards

CATEGORY = "LongForm/meter"
NONE = "none"


class LF_VideoReport:
    """Drift, flicker, seams and motion of a video: a JSON report and one plot."""

    DESCRIPTION = (
        "Measures a video, given as an IMAGE batch or a video file from the input or output folder (one of the two), "
        "a chunk of frames at a time: VBench's subject and background consistency, temporal flickering, motion "
        "smoothness and dynamic degree where their models are installed ('not measured' and the manifest entry where "
        "not), each beside the mean top-5% optical flow and a 'static' flag; hard cuts with their frames; colour "
        "drift (CIELAB ΔE); a drift curve (similarity at gaps of 2 frames to 10 s). With a storyboard: the seams at "
        "each cut, crossfade and morph, and with a CLIP encoder the frames each prompt switch takes. docs/meter.md "
        "defines every figure."
    )
    CATEGORY = CATEGORY
    FUNCTION = "report"
    RETURN_TYPES = ("STRING", "IMAGE")
    RETURN_NAMES = ("report_json", "plot")

    @classmethod
    def INPUT_TYPES(cls):
        from ..core.meter.frames import list_videos

        return {
            "required": {
                "fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.5,
                                  "tooltip": "Frames per second; 0 takes the video file's own rate (an IMAGE batch "
                                             "needs a rate above 0)."}),
            },
            "optional": {
                "images": ("IMAGE", {"tooltip": "The frames to measure; leave unconnected to measure a video file."}),
                "video": ([NONE] + list_videos(), {"tooltip": "A video file in the input or output folder; none when "
                                                              "images are connected."}),
                "storyboard": ([NONE] + list_storyboards(),
                               {"tooltip": "The storyboard the video was rendered from (input folder): seams at its "
                                           "cuts and transitions, and its prompt switches. none: cuts are detected."}),
                "encoder": ([NONE] + host.list_models("encoders", (".safetensors",)),
                            {"tooltip": "The probe's CLIP in models/encoders, for the prompt-switch latency of a "
                                        "storyboard; none skips it."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, fps=None, video=None, storyboard=None):
        return validate_inputs(cls, {"fps": fps, "video": video, "storyboard": storyboard},
                               names={"video": safe_name, "storyboard": safe_name})

    def report(self, fps: float, images=None, video: str = NONE, storyboard: str = NONE, encoder: str = NONE):
        from ..core.encoders import load_encoder
        from ..core.film.storyboard import load_storyboard
        from ..core.meter.frames import BatchFrames, VideoFrames, video_file
        from ..core.meter.report import storyboard_timeline, video_report

        has_video = video not in ("", NONE)
        if (images is None) == (not has_video):
            given = "both 'images' and 'video'" if has_video else "neither 'images' nor 'video'"
            raise ValueError(f"LF Video Report got {given}: connect an IMAGE batch to 'images', or pick a file in "
                             "'video' and leave 'images' unconnected.")
        if has_video:
            source = VideoFrames(video_file(video), fps or None)
        else:
            source = BatchFrames(images, check_fps(fps))
        timeline = None
        if storyboard not in ("", NONE):
            board = load_storyboard(readable_path("input", storyboard, "storyboard"), host.input_dir())
            timeline = storyboard_timeline(board)
        clip = None if encoder in ("", NONE) else load_encoder("clip", encoder)
        result = video_report(source, timeline, clip)
        return json.dumps(result.summary(), indent=1), from_pil(result.plot())


NODE_CLASS_MAPPINGS = {"LF_VideoReport": LF_VideoReport}
NODE_DISPLAY_NAME_MAPPINGS = {"LF_VideoReport": "LF Video Report"}
