"""Test-only ComfyUI nodes: never shipped, linked into the host tests' ComfyUI by tests/host/conftest.py.

`LFTest_WanTextEncode` stands in for Wan's text encoding (CLIPLoader of type `wan` + CLIPTextEncode) and for nothing
else. ComfyUI builds umt5-xxl at its full, fixed size (5.7 B parameters, 11 GB in fp16) whatever the file holds, so
that one step cannot run on tiny models; every other node of a Wan workflow in the tests is ComfyUI's real core node.
"""

import hashlib

import torch

# Wan's CONDITIONING: umt5-xxl's hidden states, the tokenizer padding every prompt to 512 tokens.
WAN_TEXT_TOKENS = 512
WAN_TEXT_WIDTH = 4096
# Small, as umt5's outputs reach the DiT through its text embedding; large values would only saturate the tiny model.
CONDITIONING_SCALE = 0.1


def wan_test_conditioning(text: str) -> list:
    """CONDITIONING of Wan's shape, [[cond [1, 512, 4096], {}]], drawn from a seed made of the text's sha256."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    generator = torch.Generator().manual_seed(seed)
    cond = torch.randn(1, WAN_TEXT_TOKENS, WAN_TEXT_WIDTH, generator=generator) * CONDITIONING_SCALE
    return [[cond, {}]]


class LFTest_WanTextEncode:
    """Test only: a prompt's stand-in Wan conditioning, the same for the same text (umt5-xxl cannot be tiny)."""

    DESCRIPTION = ("Test only. Replaces CLIPLoader (type wan) + CLIPTextEncode in tests: CONDITIONING of Wan's shape "
                   "drawn from a hash of the text, so a prompt change changes the video.")
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "LongForm/testing"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True, "tooltip": "The prompt."})}}

    def encode(self, text: str):
        return (wan_test_conditioning(text),)


NODE_CLASS_MAPPINGS = {"LFTest_WanTextEncode": LFTest_WanTextEncode}
NODE_DISPLAY_NAME_MAPPINGS = {"LFTest_WanTextEncode": "LF Test Wan Text Encode (test only)"}
