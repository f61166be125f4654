"""The node definitions ``/object_info`` returns: the frontend's default graph, and LoadImage.

The frontend opens with a default workflow (checkpoint → prompts → sampler → decode → save);
defining exactly those node types, in ComfyUI's ``/object_info`` shape, lets it draw that
graph without a "missing nodes" dialog. ``LoadImage`` adds an image-upload widget. Nothing
here runs a model: the double's executor answers every ``SaveImage`` with the demo image.
"""

from __future__ import annotations

from typing import Any

Input = list[Any]


def _node(
    name: str,
    display: str,
    category: str,
    required: dict[str, Input],
    outputs: tuple[str, ...] = (),
    output_node: bool = False,
) -> dict[str, Any]:
    return {
        "input": {"required": required},
        "input_order": {"required": list(required)},
        "output": list(outputs),
        "output_is_list": [False] * len(outputs),
        "output_name": list(outputs),
        "name": name,
        "display_name": display,
        "description": "",
        "python_module": "nodes",
        "category": category,
        "output_node": output_node,
    }


def _int(default: int, low: int, high: int) -> Input:
    return ["INT", {"default": default, "min": low, "max": high}]


SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m"]
SCHEDULERS = ["normal", "karras", "simple"]


def node_definitions(input_files: list[str], checkpoints: list[str]) -> dict[str, Any]:
    """ComfyUI's ``/object_info`` for the double's nodes; combos list the current files."""
    text = ["STRING", {"multiline": True, "dynamicPrompts": True}]
    return {
        "CheckpointLoaderSimple": _node(
            "CheckpointLoaderSimple",
            "Load Checkpoint",
            "loaders",
            {"ckpt_name": [checkpoints]},
            ("MODEL", "CLIP", "VAE"),
        ),
        "CLIPTextEncode": _node(
            "CLIPTextEncode",
            "CLIP Text Encode (Prompt)",
            "conditioning",
            {"text": text, "clip": ["CLIP"]},
            ("CONDITIONING",),
        ),
        "EmptyLatentImage": _node(
            "EmptyLatentImage",
            "Empty Latent Image",
            "latent",
            {
                "width": _int(512, 16, 16384),
                "height": _int(512, 16, 16384),
                "batch_size": _int(1, 1, 4096),
            },
            ("LATENT",),
        ),
        "KSampler": _node(
            "KSampler",
            "KSampler",
            "sampling",
            {
                "model": ["MODEL"],
                "seed": _int(0, 0, 2**64 - 1),
                "steps": _int(20, 1, 10000),
                "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1}],
                "sampler_name": [SAMPLERS],
                "scheduler": [SCHEDULERS],
                "positive": ["CONDITIONING"],
                "negative": ["CONDITIONING"],
                "latent_image": ["LATENT"],
                "denoise": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}],
            },
            ("LATENT",),
        ),
        "VAEDecode": _node(
            "VAEDecode", "VAE Decode", "latent", {"samples": ["LATENT"], "vae": ["VAE"]}, ("IMAGE",)
        ),
        "SaveImage": _node(
            "SaveImage",
            "Save Image",
            "image",
            {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
            output_node=True,
        ),
        "LoadImage": _node(
            "LoadImage",
            "Load Image",
            "image",
            {"image": [sorted(input_files), {"image_upload": True}]},
            ("IMAGE", "MASK"),
        ),
    }
