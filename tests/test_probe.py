"""The similarity probe on its tiny encoders: maths, loading, errors, and the nodes called directly."""

import json
import logging

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from longform_pack.core import host, manifest, probe
from longform_pack.nodes import probe as nodes

CLIP = manifest.entry("clip_probe").tiny_filename
RESNET = manifest.entry("resnet50").tiny_filename
BERT = manifest.entry("bert_base_uncased").tiny_filename
TEXTS = ["a photo of a cat", "a photo of a dog", "a red sports car on a wet road"]


@pytest.fixture(scope="module")
def clip(tiny_models_dir):
    return probe.load_encoder("clip", CLIP)


@pytest.fixture(scope="module")
def bert(tiny_models_dir):
    return probe.load_encoder("bert", BERT)


@pytest.fixture(scope="module")
def resnet(tiny_models_dir):
    return probe.load_encoder("resnet50", RESNET)


def _images(count: int = 4, height: int = 40, width: int = 52, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, height, width, 3, generator=generator)


# ------------------------------------------------------------------------------------------------------------- maths


def test_cosine_equals_normalised_dot_product():
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 12, generator=generator) * 3, torch.randn(7, 12, generator=generator)
    matrix = probe.cosine_matrix(a, b)
    for i in range(5):
        for j in range(7):
            expected = torch.dot(a[i], b[j]) / (a[i].norm() * b[j].norm())
            assert matrix[i, j] == pytest.approx(float(expected), abs=1e-6)
    with pytest.raises(ValueError, match="same dim"):
        probe.cosine_matrix(a, torch.randn(3, 11))


def test_matrix_shape_and_order_follow_the_inputs(clip):
    images = clip.encode_images(_images(4))
    texts = clip.encode_texts(TEXTS)
    result = probe.similarity(images, texts)
    assert result.matrix.shape == (4, 3)
    assert result.b.labels == TEXTS and result.a.labels == [f"image {i}" for i in range(4)]
    # Reversing the texts reverses the columns; reversing the images reverses the rows.
    reversed_texts = probe.similarity(images, clip.encode_texts(TEXTS[::-1]))
    assert torch.allclose(reversed_texts.matrix, result.matrix.flip(1), atol=1e-6)
    reversed_images = probe.similarity(clip.encode_images(_images(4).flip(0)), texts)
    assert torch.allclose(reversed_images.matrix, result.matrix.flip(0), atol=1e-6)
    assert result.best == [int(j) for j in result.matrix.argmax(1)]
    assert result.best_labels == [TEXTS[j] for j in result.best]


def test_image_against_itself_scores_one(clip, resnet):
    batch = _images(3)
    for encoder in (clip, resnet):
        embeddings = encoder.encode_images(torch.cat([batch, batch[:1]]))
        result = probe.similarity(embeddings)
        assert torch.allclose(result.matrix.diagonal(), torch.ones(4), atol=1e-5)
        assert result.matrix[0, 3] == pytest.approx(1.0, abs=1e-5)
        # In a self-comparison a row's best match is another item, never itself.
        assert result.self_similarity and all(j != i for i, j in enumerate(result.best))
        assert result.best[0] == 3


def test_batching_does_not_change_results(clip, bert, resnet):
    batch = _images(5)
    for encoder in (clip, resnet):
        one_by_one = encoder.encode_images(batch, batch_size=1).vectors
        together = encoder.encode_images(batch, batch_size=5).vectors
        assert (one_by_one - together).abs().max() < 1e-5
    texts = TEXTS + ["a much longer sentence so that the batch needs padding for the shorter ones"]
    for encoder in (clip, bert):
        one_by_one = encoder.encode_texts(texts, batch_size=1).vectors
        together = encoder.encode_texts(texts, batch_size=4).vectors
        assert (one_by_one - together).abs().max() < 1e-5


def test_clip_probabilities_are_softmax_over_texts_with_the_logit_scale(clip):
    result = probe.similarity(clip.encode_images(_images(2)), clip.encode_texts(TEXTS))
    scale = float(clip.model.logit_scale.detach().exp())
    assert result.a.logit_scale == pytest.approx(scale)
    assert torch.allclose(result.probabilities, torch.softmax(scale * result.matrix, dim=1), atol=1e-6)
    assert torch.allclose(result.probabilities.sum(1), torch.ones(2), atol=1e-6)
    # Texts against texts: cosines only, no zero-shot probabilities.
    assert probe.similarity(clip.encode_texts(TEXTS)).probabilities is None


# ------------------------------------------------------------------------------------------------------------ loading


def _hf_folder(tmp_path, filename: str):
    """The tiny file as an HF folder (model.safetensors + config.json) for transformers' own loader."""
    path = host.model_path("encoders", filename)
    with safe_open(str(path), framework="pt") as handle:
        config = json.loads(handle.metadata()["config"])
    folder = tmp_path / filename.replace(".safetensors", "")
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    save_file(load_file(str(path)), str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def test_vectors_match_transformers_loading_the_same_file(tmp_path, clip, bert, resnet):
    import transformers

    batch = _images(2, 64, 64)
    with torch.no_grad():
        reference = transformers.CLIPModel.from_pretrained(_hf_folder(tmp_path, CLIP)).eval()
        expected = reference.visual_projection(reference.vision_model(pixel_values=clip.pixel_values(batch)).pooler_output)
        assert torch.allclose(clip.encode_images(batch).vectors, expected, atol=1e-5)
        tokens = probe.load_tokenizer("clip")(TEXTS, padding="max_length", max_length=77, return_tensors="pt")
        expected = reference.text_projection(reference.text_model(**tokens).pooler_output)
        assert torch.allclose(clip.encode_texts(TEXTS).vectors, expected, atol=1e-5)

        reference = transformers.ResNetModel.from_pretrained(_hf_folder(tmp_path, RESNET)).eval()
        expected = reference(pixel_values=resnet.pixel_values(batch)).pooler_output.flatten(1)
        assert torch.allclose(resnet.encode_images(batch).vectors, expected, atol=1e-5)

        reference = transformers.BertModel.from_pretrained(_hf_folder(tmp_path, BERT)).eval()
        tokens = probe.load_tokenizer("bert")(TEXTS, padding=True, return_tensors="pt")
        hidden = reference(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        assert torch.allclose(bert.encode_texts(TEXTS).vectors, (hidden * mask).sum(1) / mask.sum(1), atol=1e-5)
        assert torch.allclose(bert.encode_texts(TEXTS, pooling="cls").vectors, hidden[:, 0], atol=1e-5)


def test_clip_preprocessing_matches_the_published_processor(clip):
    from transformers import CLIPImageProcessor

    from longform_pack.core import images as image_utils

    # A smooth picture (noise would measure the two resamplers' aliasing, not the preprocessing).
    y, x = torch.meshgrid(torch.linspace(0, 1, 50), torch.linspace(0, 1, 70), indexing="ij")
    batch = torch.stack([x, y, 0.5 + 0.5 * torch.sin(6 * x + 3 * y)], dim=-1)[None]
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    expected = processor(images=image_utils.to_pil(batch), return_tensors="pt")["pixel_values"]
    # Bicubic in torch vs PIL and 8-bit rounding differ a little; a shifted crop or wrong statistics differ by ~1.
    assert (clip.pixel_values(batch) - expected).abs().mean() < 0.03


def test_text_tower_without_text_model_prefix_loads(tiny_models_dir, clip):
    """transformers >= 5.6 saves CLIP's text tower without `text_model.`; such keys must load the same."""
    state = load_file(str(host.model_path("encoders", CLIP)))
    with safe_open(str(host.model_path("encoders", CLIP)), framework="pt") as handle:
        metadata = handle.metadata()
    renamed = {k.removeprefix("text_model."): v for k, v in state.items()}
    assert renamed.keys() != state.keys()
    save_file(renamed, str(tiny_models_dir / "encoders" / "clip-bare-text-keys.safetensors"), metadata=metadata)
    other = probe.load_encoder("clip", "clip-bare-text-keys.safetensors")
    assert torch.allclose(other.encode_texts(TEXTS).vectors, clip.encode_texts(TEXTS).vectors, atol=1e-6)


def test_encoders_are_cached_on_the_host_device(clip, caplog):
    assert probe.load_encoder("clip", CLIP) is clip
    assert clip.managed.device == host.torch_device() and clip.managed.dtype == torch.float32
    assert next(clip.model.parameters()).device.type == host.torch_device().type
    assert clip.tiny
    probe.clear_cache()
    with caplog.at_level(logging.WARNING, logger="LongForm"):
        reloaded = probe.load_encoder("clip", CLIP)
    assert reloaded is not clip and "tiny test model" in caplog.text


def test_token_views_report_ids_and_truncation():
    clip_view = probe.token_view("clip", "a photo of a cat")
    # The published CLIP and BERT ids of this sentence (start/end or [CLS]/[SEP] included).
    assert clip_view.ids == [49406, 320, 1125, 539, 320, 2368, 49407] and not clip_view.truncated
    assert probe.token_view("bert", "a photo of a cat").ids == [101, 1037, 6302, 1997, 1037, 4937, 102]
    long_view = probe.token_view("clip", "cat " * 100)
    assert long_view.count == 102 and long_view.max_tokens == 77 and long_view.truncated
    text = probe.format_token_view(long_view)
    assert "TRUNCATED" in text and text.count("<- cut") == 102 - 77
    assert probe.token_view("bert", "word " * 600).max_tokens == 512


# ------------------------------------------------------------------------------------------------------------- errors


def test_mixing_spaces_is_an_error(clip, bert, resnet):
    with pytest.raises(ValueError, match="no|comparable only"):
        probe.similarity(resnet.encode_images(_images(2)), bert.encode_texts(TEXTS))
    with pytest.raises(ValueError, match="comparable only"):
        probe.similarity(clip.encode_images(_images(2)), bert.encode_texts(TEXTS))
    # BERT's mean-pooled and [CLS] vectors are different spaces too.
    with pytest.raises(ValueError, match="comparable only"):
        probe.similarity(bert.encode_texts(TEXTS), bert.encode_texts(TEXTS, pooling="cls"))


def test_user_mistakes_are_clear_errors(clip, bert, resnet, tiny_models_dir):
    with pytest.raises(ValueError, match="empty"):
        clip.encode_texts([])
    with pytest.raises(ValueError, match="positions \\[2\\]"):
        clip.encode_texts(["a cat", "  "])
    with pytest.raises(ValueError, match="no text"):
        probe.parse_lines("\n  \n")
    with pytest.raises(ValueError, match="'images'"):
        clip.encode_images(torch.rand(32, 32, 3))
    with pytest.raises(ValueError, match="'images'"):
        clip.encode_images(torch.rand(1, 32, 32, 5))
    with pytest.raises(ValueError, match="texts only"):
        bert.encode_images(_images(1))
    with pytest.raises(ValueError, match="images only"):
        resnet.encode_texts(TEXTS)
    with pytest.raises(ValueError, match="kind 'resnet50'"):
        probe.load_encoder("clip", RESNET)
    with pytest.raises(ValueError, match="'kind'"):
        probe.load_encoder("vit", CLIP)
    with pytest.raises(FileNotFoundError, match="install.py"):
        probe.load_encoder("clip", "clip-vit-base-patch32.safetensors")
    with pytest.raises(ValueError, match="BERT encoders only"):
        probe.encode_texts(clip, TEXTS, pooling="cls")


def test_long_texts_are_an_error_unless_truncated_and_then_reported(clip, bert):
    long_text = "a cat sitting on a mat " * 20
    with pytest.raises(ValueError, match="line 2 \\(122 tokens\\).*truncate"):
        clip.encode_texts(["a cat", long_text])
    cut = clip.encode_texts(["a cat", long_text], truncate=True)
    assert cut.truncated == [False, True] and cut.token_counts[1] == 122 and cut.max_tokens == 77
    result = probe.similarity(clip.encode_images(_images(1)), cut)
    assert "TRUNCATED to 77 tokens from 122" in result.table()
    assert json.loads(result.to_json())["truncated"]["columns"] == [long_text]
    # BERT takes this text whole (512 tokens) but not one five times as long.
    assert bert.encode_texts([long_text]).truncated == [False]
    with pytest.raises(ValueError, match="512 tokens"):
        bert.encode_texts([long_text * 5])


def test_a_file_that_does_not_fit_its_config_is_an_error(tiny_models_dir):
    state = load_file(str(host.model_path("encoders", BERT)))
    save_file(state, str(tiny_models_dir / "encoders" / "bert-no-config.safetensors"))
    with pytest.raises(ValueError, match="does not fit its config.*bert-no-config.json"):
        probe.load_encoder("bert", "bert-no-config.safetensors")


def test_an_hf_folder_loads_with_its_config_json(tiny_models_dir, bert):
    """A publisher's folder (model.safetensors + config.json, no config in the metadata) put in models/encoders."""
    path = host.model_path("encoders", BERT)
    with safe_open(str(path), framework="pt") as handle:
        config = handle.metadata()["config"]
    folder = tiny_models_dir / "encoders" / "tiny-bert-folder"
    folder.mkdir()
    save_file(load_file(str(path)), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(config)
    assert "tiny-bert-folder/model.safetensors" in nodes.LF_ProbeEncoderLoader.INPUT_TYPES()["required"]["encoder_file"][0]
    loaded = probe.load_encoder("bert", "tiny-bert-folder/model.safetensors")
    assert not loaded.tiny  # the tiny marker lived in the metadata this copy dropped
    assert torch.allclose(loaded.encode_texts(TEXTS).vectors, bert.encode_texts(TEXTS).vectors, atol=1e-6)


# -------------------------------------------------------------------------------------------------------------- nodes


def test_nodes_compose_into_the_probe(tiny_models_dir):
    (encoder,) = nodes.LF_ProbeEncoderLoader().load("clip", CLIP)
    (image_vectors,) = nodes.LF_ProbeEncodeImages().encode(encoder, _images(3), batch_size=2)
    (text_vectors,) = nodes.LF_ProbeEncodeTexts().encode(encoder, "\n".join(TEXTS) + "\n\n", False, "auto", 8)
    table, matrix_json, best, heatmap = nodes.LF_ProbeSimilarity().compare(image_vectors, text_vectors)
    data = json.loads(matrix_json)
    assert data["columns"]["labels"] == TEXTS and len(data["cosine"]) == 3 and len(data["cosine"][0]) == 3
    assert data["probabilities"] is not None and data["space"] == encoder.space
    assert all(text in table for text in TEXTS) and len(best.splitlines()) == 3
    assert best.splitlines()[0].startswith("image 0: " + data["best"][0])
    assert heatmap.ndim == 4 and heatmap.shape[0] == 1 and heatmap.shape[-1] == 3
    assert 0 <= float(heatmap.min()) and float(heatmap.max()) <= 1 and float(heatmap.std()) > 0.05
    # b left empty: a against itself.
    table, matrix_json, _, _ = nodes.LF_ProbeSimilarity().compare(text_vectors)
    assert json.loads(matrix_json)["rows"]["labels"] == TEXTS
    assert nodes.LF_ProbeEncoderLoader.INPUT_TYPES()["required"]["encoder_file"][0] == host.list_models(
        "encoders", (".safetensors",)
    )


def test_all_in_one_node_matches_the_composed_nodes(tiny_models_dir):
    images = _images(2)
    table, heatmap = nodes.LF_ClipProbe().run(images, "\n".join(TEXTS), CLIP, False)
    encoder = probe.load_encoder("clip", CLIP)
    expected = probe.similarity(encoder.encode_images(images), encoder.encode_texts(TEXTS))
    assert table == expected.table()
    assert heatmap.shape == expected.heatmap_image().shape
    with pytest.raises(ValueError, match="no text"):
        nodes.LF_ClipProbe().run(images, "\n", CLIP, False)


def test_bert_and_resnet_nodes_and_token_view(tiny_models_dir):
    (bert,) = nodes.LF_ProbeEncoderLoader().load("bert", BERT)
    (mean,) = nodes.LF_ProbeEncodeTexts().encode(bert, "\n".join(TEXTS), False, "auto", 32)
    (cls,) = nodes.LF_ProbeEncodeTexts().encode(bert, "\n".join(TEXTS), False, "cls", 32)
    assert mean.space.endswith(":mean") and cls.space.endswith(":cls")
    (resnet,) = nodes.LF_ProbeEncoderLoader().load("resnet50", RESNET)
    (image_vectors,) = nodes.LF_ProbeEncodeImages().encode(resnet, _images(2), 16)
    with pytest.raises(ValueError, match="comparable only"):
        nodes.LF_ProbeSimilarity().compare(image_vectors, mean)
    (text,) = nodes.LF_ProbeTokenView().view("a photo of a cat", "both")
    assert "clip tokenizer: 7 tokens" in text and "bert tokenizer: 7 tokens" in text and "[CLS]" in text
