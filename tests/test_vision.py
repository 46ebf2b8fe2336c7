"""Image classification: readers, our ViT against Hugging Face's on the same weights, patch
heatmaps, and the Fashion-MNIST sweep (teacher, static and SMAT students) end to end."""

import gzip
import os
import pickle

import jax
import numpy as np
import pytest
import torch
import transformers

from smat import config as config_lib
from smat import data as data_lib
from smat import heatmaps, models, patch_heatmaps
from smat.data import images
from smat.errors import ConfigError
from smat.models import hf_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_FMNIST = os.path.isdir(images.FASHION_MNIST_DIR)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_on_files_in_the_fashion_mnist_layout(tmp_path):
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    test_x = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", train_x)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_x)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([9, 8, 7]))
    x, y, classes = images.read_fashion_mnist(str(tmp_path))
    assert x.shape == (8, 28, 28, 1) and x.dtype == np.uint8 and classes == 10
    np.testing.assert_array_equal(x[:5, ..., 0], train_x)
    np.testing.assert_array_equal(x[5:, ..., 0], test_x)
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 4, 9, 8, 7])
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ConfigError, match="t10k-labels-idx1-ubyte.*apt-get install"):
        images.read_fashion_mnist(str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        images.read_fashion_mnist(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("num_classes", [10, 100])
def test_cifar_reader_on_pickles_in_the_official_format(tmp_path, num_classes):
    rng = np.random.default_rng(1)
    names = ["train", "test"] if num_classes == 100 else [f"data_batch_{i}" for i in range(1, 6)]
    names += [] if num_classes == 100 else ["test_batch"]
    key = b"fine_labels" if num_classes == 100 else b"labels"
    written = []
    for name in names:
        hwc = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
        rows = hwc.transpose(0, 3, 1, 2).reshape(2, 3072)  # channel-major rows, as shipped
        labels = list(rng.integers(0, num_classes, 2))
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rows, key: labels, b"coarse_labels": [0, 0]}, f)
        written.append((hwc, labels))
    x, y, classes = images.read_cifar(str(tmp_path), num_classes)
    assert classes == num_classes and x.shape == (2 * len(names), 32, 32, 3)
    np.testing.assert_array_equal(x, np.concatenate([w[0] for w in written]))
    np.testing.assert_array_equal(y, np.concatenate([w[1] for w in written]))
    os.remove(tmp_path / names[-1])
    with pytest.raises(ConfigError, match=f"lacks.*CIFAR-{num_classes}"):
        images.read_cifar(str(tmp_path), num_classes)


def test_vit_matches_hugging_face_on_the_same_weights(tmp_path):
    torch.manual_seed(0)
    hf_cfg = transformers.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=16,
        patch_size=4,
        num_channels=3,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    hf = transformers.ViTForImageClassification(hf_cfg).eval()
    with torch.no_grad():  # random (not zero) cls token and position embeddings
        hf.vit.embeddings.cls_token.normal_()
        hf.vit.embeddings.position_embeddings.normal_()
    hf.save_pretrained(tmp_path, safe_serialization=True)
    cfg = hf_checkpoint.read_vit_config(str(tmp_path))
    assert (cfg.num_positions, cfg.num_heads, cfg.grid) == (17, 4, 4)

    pixels = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    model_cfg = config_lib.base().model
    model_cfg.update(name="vit_classifier", checkpoint=str(tmp_path), dropout=0.0)
    model_cfg.attention_dropout = 0.0
    built = models.build_model(model_cfg, num_classes=3, vocab_size=0)
    example = {"pixels": pixels, "attention_mask": np.ones((2, 17), np.int32)}
    params = built.adapted.init(jax.random.key(0), *data_lib.model_inputs(example))
    params = models.overlay_pretrained(params, built)
    ours = built.apply({"params": params}, *data_lib.model_inputs(example))

    # HF normalises with the processor: (x / 255 - 0.5) / 0.5, channels first.
    x = torch.tensor((pixels / 255.0 - 0.5) / 0.5, dtype=torch.float32).permute(0, 3, 1, 2)
    with torch.no_grad():
        theirs = hf.vit(x, output_hidden_states=True, output_attentions=True)
    for mine, ref in zip(ours.encoder.hidden_states, theirs.hidden_states, strict=True):
        np.testing.assert_allclose(np.asarray(mine), ref.numpy(), atol=1e-4, rtol=1e-4)
    for layer, ref in enumerate(theirs.attentions):
        np.testing.assert_allclose(
            np.asarray(ours.encoder.attention_probs[layer]), ref.numpy(), atol=1e-5
        )
    np.testing.assert_allclose(
        np.asarray(jax.nn.softmax(np.asarray(ours.attention_logits), -1)),
        np.asarray(ours.encoder.attention_probs),
        atol=1e-6,
    )
    # Smaller images are resized to the model's size; grey images repeated over channels.
    grey = {"pixels": pixels[:, ::2, ::2, :1], "attention_mask": example["attention_mask"]}
    assert built.apply({"params": params}, *data_lib.model_inputs(grey)).logits.shape == (2, 3)
    # Injected [CLS] + patch embeddings reproduce the model's own.
    again = built.apply(
        {"params": params},
        *data_lib.model_inputs(example),
        inputs_embeds=ours.input_embeds,
    )
    np.testing.assert_allclose(np.asarray(again.logits), np.asarray(ours.logits), atol=1e-6)


@pytest.mark.parametrize("name", ["gradient_x_input", "integrated_gradients", "attention"])
def test_explainers_over_patches_of_a_vit(name):
    from smat import explainers

    cfg = config_lib.base().model
    cfg.update(name="vit_classifier", checkpoint="", num_layers=2, hidden_size=16, num_heads=2)
    cfg.update(intermediate_size=32, image_size=12, patch_size=4, num_channels=1)
    built = models.build_model(cfg, num_classes=3, vocab_size=0)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 12, 12, 1), dtype=np.uint8)
    batch = {"pixels": pixels, "attention_mask": np.ones((2, 10), np.int32)}
    params = built.adapted.init(jax.random.key(0), *data_lib.model_inputs(batch))
    explainer = explainers.build(config_lib.explainer_section(name, ig_steps=4))
    out = built.apply({"params": params}, *data_lib.model_inputs(batch))
    phi = explainer.init(2, 2)
    e = np.asarray(
        explainer.explain(
            phi, explainer.compute(built.apply, params, batch, out), batch["attention_mask"]
        )
    )
    assert e.shape == (2, 10) and np.all(np.isfinite(e))
    np.testing.assert_allclose(e.sum(-1), 1.0, atol=1e-5)
    assert heatmaps.patch_maps(e).shape == (2, 3, 3)


def test_patch_heatmaps_map_positions_onto_the_image(tmp_path):
    e = np.zeros((2, 1 + 16), np.float32)
    e[:, 0] = 0.5  # [CLS] is dropped
    e[0, 1 + 5] = 0.5  # row 1, column 1 of a 4x4 grid
    e[1, 1 + 15] = 0.5  # bottom-right patch
    maps = heatmaps.patch_maps(e)
    assert maps.shape == (2, 4, 4) and maps[0, 1, 1] == 0.5 and maps[1, 3, 3] == 0.5
    image = np.full((16, 16, 1), 128, np.uint8)
    rgb = heatmaps.overlay(image, maps[1], scale=1)
    assert rgb.shape == (16, 16, 3)
    # The hot patch is brighter than a cold one in the blended heatmap.
    assert rgb[14, 14].sum() > rgb[1, 1].sum() + 0.5
    path = heatmaps.render_png(str(tmp_path / "p.png"), np.stack([image, image]), {"x": e})
    png = __import__("matplotlib.image", fromlist=["imread"]).imread(path)
    assert png.std() > 0.05  # not blank
    with pytest.raises(ValueError, match="square grid"):
        heatmaps.patch_maps(np.zeros((1, 11)))


@pytest.mark.skipif(not HAS_FMNIST, reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_sweep_report_and_heatmaps_end_to_end(tmp_path):
    """Teacher + static attention / SMAT students on the packaged Fashion-MNIST, the report,
    and the patch heatmap PNG of the SMAT run."""
    from smat import report, sweep

    root = str(tmp_path / "fm")
    assert sweep.main([os.path.join(REPO, "experiments", "fmnist_paper.py"), "--root", root,
                       "--variant", "smoke"]) == 0  # fmt: skip
    assert report.main([root, "--bootstrap", "50"]) == 0
    table = open(os.path.join(root, "report.md")).read()
    for label in ("attention_all", "smat"):
        assert label in table
    smat_run = os.path.join(root, "cells", "n64", "smat", "seed0")
    static_run = os.path.join(root, "cells", "n64", "attention_all", "seed0")
    out = str(tmp_path / "patches.png")
    code = patch_heatmaps.main(
        ["--workdir", smat_run, "--static", static_run, "--out", out, "--examples", "3"]
    )
    assert code == 0 and os.path.getsize(out) > 10_000
    # The learned explainer's head weights moved away from uniform and were saved.
    weights = np.load(os.path.join(smat_run, "teacher_head_weights.npy"))
    assert weights.shape == (2, 2) and not np.allclose(weights, 0.25)
    assert patch_heatmaps.main(["--workdir", str(tmp_path), "--out", out]) == 2
    # A human-evaluation study of the SMAT run: one PNG per explainer and example, served.
    from smat.annotate import load_study
    from smat.annotate.__main__ import main as annotate
    from smat.annotate.app import create_app

    study_dir = str(tmp_path / "study")
    names = "learned,attention_all,gradient_x_input"
    assert annotate(["export", "--workdir", smat_run, "--explainers", names, "--n", "2",
                     "--out", study_dir]) == 0  # fmt: skip
    study = load_study(study_dir)
    assert study.kind == "image" and study.explainers == names.split(",")
    client = create_app(study_dir).test_client()
    key = client.post("/start", data={"name": "x"}).headers["Location"].split("?")[0]
    key = key.rstrip("/").split("/")[-1]
    for slot in range(3):
        assert client.get(f"/a/{key}/2/heatmap/{slot}.png").data[:4] == b"\x89PNG"
