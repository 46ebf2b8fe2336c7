"""Student setups end to end on the smoke configs: teacher on demand, learning, resume, API."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import smat
from smat import runs
from smat.errors import ConfigError
from smat.trainers import LearnableTeacherTrainer, StaticTeacherTrainer
from tests.conftest import predictions as _predictions
from tests.conftest import student_config as _config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_learnable_run_trains_its_teacher_then_learns_the_explainer(smat_run):
    _, workdir, summary = smat_run
    assert summary["status"] == "finished" and summary["steps"] == 12
    teacher = os.path.join(workdir, "teacher")
    assert os.path.isfile(os.path.join(teacher, "summary.json"))
    assert summary["teacher_workdir"] == teacher
    # The student agrees with the teacher well above chance on 256 held-out reviews.
    assert summary["test/simulability"] > 0.6
    preds = _predictions(workdir)
    agree = np.mean(preds["student_logits"].argmax(-1) == preds["teacher_logits"].argmax(-1))
    assert agree == pytest.approx(summary["test/simulability"], abs=1e-6)
    weights = np.load(os.path.join(workdir, "teacher_head_weights.npy"))
    assert weights.shape == (1, 12) and abs(weights.sum() - 1) < 1e-5
    assert np.ptp(weights) > 1e-4  # the meta-step moved the head weights away from uniform
    events = EventAccumulator(workdir)
    events.Reload()
    assert "train/meta_loss" in events.Tags()["scalars"]
    assert "teacher_explainer/head_weights" in events.Tags()["images"]


@pytest.mark.parametrize(
    "name, beta", [("attention", 5.0), ("integrated_gradients", 0.2), ("none", 0.0)]
)
def test_static_students(smat_run, tmp_path, cache_dir, name, beta):
    _, ref_dir, _ = smat_run
    c = _config(
        "imdb_static", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"), beta=beta
    )
    c.teacher_explainer.name = name
    c.teacher_explainer.ig_steps = 4
    summary = StaticTeacherTrainer(c, str(tmp_path)).fit()
    assert summary["status"] == "finished"
    assert summary["test/simulability"] > 0.6
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    kl = [e.value for e in events.Scalars("train/explanation_kl")]
    assert (max(kl) > 0) == (name != "none")


def test_smat_reports_how_far_the_explainers_moved(smat_run):
    _, workdir, summary = smat_run
    assert summary["meta/steps"] == 12  # a meta-step every step
    assert 0 < summary["phi/distance_from_uniform"] < 1
    assert summary["phi/nonzero_heads"] <= 12 and summary["phi/max_coefficient_change"] > 0
    assert "psi/distance_from_uniform" in summary
    with np.load(os.path.join(workdir, "explainer_trajectory.npz")) as z:
        assert z["step"].tolist() == [4, 8, 12]
        assert z["teacher"].shape == (3, 1, 12) and z["student"].shape == (3, 1, 12)
        np.testing.assert_allclose(z["teacher"].sum(axis=(1, 2)), 1, atol=1e-5)
    events = EventAccumulator(workdir)
    events.Reload()
    assert "teacher_explainer/trajectory" in events.Tags()["images"]
    cosines = [e.value for e in events.Scalars("train/meta_grad_cosine")]
    assert cosines and all(-1 <= c <= 1 for c in cosines)
    assert {"train/phi_distance", "train/psi_distance"} <= set(events.Tags()["scalars"])


def test_runs_write_an_hparams_session_tensorboard_reads(smat_run):
    from tensorboard.plugins.hparams import metadata

    c, workdir, summary = smat_run
    events = EventAccumulator(workdir)
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    recorded = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in
                start.hparams.items()}  # fmt: skip
    assert recorded["setup"] == "learnable_teacher"
    assert recorded["meta.optim.learning_rate"] == pytest.approx(c.meta.optim.learning_rate)
    assert recorded["seed"] == c.seed and recorded["teacher_explainer.name"] == "attention"
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert {"test/simulability", "best_val/simulability", "wall_time_s"} <= metrics
    # The plugin reads each metric from the run's scalar of the same tag.
    last = events.Scalars("best_val/simulability")[-1].value
    assert last == pytest.approx(summary["best_val/simulability"])


def test_student_explainer_gets_its_own_optimiser(smat_run, tmp_path, cache_dir):
    _, ref_dir, _ = smat_run
    moved = {}
    for name in ("student", "adamw"):
        c = _config("imdb_static", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"))
        c.explainer_optim.name = name
        c.explainer_optim.learning_rate = 0.05
        summary = StaticTeacherTrainer(c, str(tmp_path / name)).fit()
        moved[name] = summary["psi/max_coefficient_change"]
    # Adam moves a parameter about one learning rate per step: 12 steps of 0.05 against the
    # student's 1e-3.
    assert moved["student"] < 12 * 1e-3 + 1e-6 < 0.05 < moved["adamw"]


def test_transfer_trains_a_fresh_student_with_a_learned_explainer(smat_run, tmp_path, cache_dir):
    _, ref_dir, _ = smat_run
    teacher = os.path.join(ref_dir, "teacher")
    c = _config("imdb_static", cache_dir, teacher_workdir=teacher, seed=3)
    c.teacher_explainer.from_run = ref_dir
    summary = StaticTeacherTrainer(c, str(tmp_path)).fit()
    assert summary["status"] == "finished"
    np.testing.assert_array_equal(
        np.load(os.path.join(str(tmp_path), "teacher_head_weights.npy")),
        np.load(os.path.join(ref_dir, "teacher_head_weights.npy")),
    )
    # The frozen explainer gives the SMAT run's explanations.
    batch = {
        "input_ids": np.array([[101, 2307, 3185, 102, 0, 0]]),
        "attention_mask": np.array([[1, 1, 1, 1, 0, 0]]),
    }
    np.testing.assert_allclose(
        smat.load_teacher_explainer(str(tmp_path)).scores(batch),
        smat.load_teacher_explainer(ref_dir).scores(batch),
        atol=1e-6,
    )


def test_transfer_of_a_runs_top_k_heads(smat_run, tmp_path, cache_dir):
    from smat import transfer

    _, ref_dir, _ = smat_run
    learned = np.load(os.path.join(ref_dir, "teacher_head_weights.npy"))
    c = _config("imdb_static", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"))
    c.teacher_explainer.from_run = ref_dir
    c.teacher_explainer.top_k = 2
    assert StaticTeacherTrainer(c, str(tmp_path)).fit()["status"] == "finished"
    used = np.load(tmp_path / "teacher_head_weights.npy")
    # The run's two largest weights, in proportion, summing to 1; every other head 0.
    top = np.argsort(-learned, axis=None)[:2]
    assert np.count_nonzero(used) == 2 and set(np.flatnonzero(used)) == set(top)
    np.testing.assert_allclose(used.flat[top], learned.flat[top] / learned.flat[top].sum(), 1e-6)
    assert transfer.top_k(learned, 0) is learned


def test_top_k_weights():
    from smat import transfer

    w = np.array([[0.1, 0.4, 0.0], [0.2, 0.0, 0.3]], np.float32)
    np.testing.assert_allclose(transfer.top_k(w, 1), [[0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(transfer.top_k(w, 3), np.array([[0, 4, 0], [2, 0, 3]]) / 9, 1e-6)
    with pytest.raises(ConfigError, match="only 4 heads have a weight > 0; lower top_k"):
        transfer.top_k(w, 5)


def test_smat_restarts_from_a_runs_explainer_with_a_fresh_student(smat_run, tmp_path, cache_dir):
    _, ref_dir, _ = smat_run
    weights = np.load(os.path.join(ref_dir, "teacher_head_weights.npy"))
    c = _config(
        "imdb_learnable", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"), seed=3
    )
    c.teacher_explainer.from_run = ref_dir
    look = LearnableTeacherTrainer(c, str(tmp_path / "look"))
    try:
        assert look.begin() is None  # set up, nothing trained yet
        start = look.sim.teacher_explainer.head_weights(look.state.phi)
    finally:
        look.release_workdir()
    np.testing.assert_allclose(start, weights, atol=1e-6)  # φ starts where the run ended
    summary = LearnableTeacherTrainer(c, str(tmp_path / "run")).fit()
    assert summary["status"] == "finished" and summary["meta/steps"] == 12
    ended = np.load(tmp_path / "run" / "teacher_head_weights.npy")
    assert np.abs(ended - weights).max() > 1e-4  # and the meta-step goes on learning it


@pytest.mark.parametrize("norm", ["sparsemax", "entmax15", "softmax", "none"])
def test_explainer_params_for_weights_invert_the_head_norm(norm):
    from smat.explainers import AttentionExplainer

    weights = np.array([[0.5, 0.3, 0.0], [0.2, 0.0, 0.0]], np.float32)
    ex = AttentionExplainer(head_norm=norm)
    np.testing.assert_allclose(ex.head_weights(ex.params_for(weights)), weights, atol=1e-6)


def test_transfer_errors(smat_run, tmp_path, cache_dir):
    _, ref_dir, _ = smat_run
    teacher = os.path.join(ref_dir, "teacher")

    def fails(match, setup="static_teacher", **explainer):
        c = _config("imdb_static", cache_dir, teacher_workdir=teacher, setup=setup)
        for k, v in explainer.items():
            c.teacher_explainer[k] = v
        with pytest.raises(ConfigError, match=match):
            StaticTeacherTrainer(c, str(tmp_path / "run")).fit()
        assert not os.path.exists(tmp_path / "run" / "checkpoints")  # no work was spent

    fails("no such folder", from_run=str(tmp_path / "missing"))
    fails("set teacher_explainer.from_run too", top_k=2)
    fails("not a SMAT run", from_run=teacher)
    fails("the run's explainer differs", from_run=ref_dir, layer=0)
    fails("needs setup=static_teacher", name="gradient_x_input", from_run=ref_dir)
    np.save(tmp_path / "bad_sum.npy", np.ones((1, 12), np.float32))
    fails("summing to 1", from_run=str(tmp_path / "bad_sum.npy"))
    np.save(tmp_path / "two_layers.npy", np.full((2, 12), 1 / 24, np.float32))
    fails(
        "mixes 2 layers x 12 heads, this teacher has 1 x 12",
        from_run=str(tmp_path / "two_layers.npy"),
    )


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("teacher_explainer.head", 40, "teacher_explainer.head=40, but the model has 12 heads"),
        ("teacher_explainer.layer", 9, "teacher_explainer.layer=9, but the model has 1 layers"),
        ("teacher_explainer.layer", -2, "teacher_explainer.layer=-2"),
        ("student_explainer.head", 12, "student_explainer.head=12, but the model has 12 heads"),
    ],
)
def test_a_layer_or_head_beyond_the_model_is_refused_not_clamped(
    smat_run, tmp_path, cache_dir, field, value, needle
):
    """JAX clamps an out-of-range index: head=40 of 12 used to train with another head and
    report its simulability (rc 0); layer=9 of 1 ended in an IndexError traceback."""
    _, ref_dir, _ = smat_run
    c = _config("imdb_static", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"))
    section, key = field.split(".")
    c[section][key] = value
    with pytest.raises(ConfigError, match=re.escape(needle)):
        StaticTeacherTrainer(c, str(tmp_path)).fit()
    assert not os.path.exists(tmp_path / "checkpoints")


def test_student_data_must_match_the_teacher(smat_run, tmp_path, cache_dir):
    _, ref_dir, _ = smat_run
    c = _config("imdb_static", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"))
    c.data.max_length = 32
    with pytest.raises(ConfigError, match="data.max_length=32 differs from the teacher's"):
        StaticTeacherTrainer(c, str(tmp_path)).fit()


def test_learnable_config_errors(cache_dir, tmp_path):
    c = _config("imdb_learnable", cache_dir)
    c.optim.eps_root = 0.0
    with pytest.raises(ConfigError, match="optim.eps_root > 0"):
        LearnableTeacherTrainer(c, str(tmp_path))
    c = _config("imdb_learnable", cache_dir, beta=0.0)
    with pytest.raises(ConfigError, match="needs beta > 0"):
        LearnableTeacherTrainer(c, str(tmp_path))


def test_learned_teacher_explainer_explains_new_text_in_two_lines(smat_run):
    _, workdir, _ = smat_run
    explain = smat.load_teacher_explainer(workdir)
    out = explain.explain(["A truly wonderful film!", "boring <br /> plot"], aggregate="word")
    assert out[0].tokens[:2] == ["[CLS]", "A"] and out[0].tokens[-1] == "[SEP]"
    assert out[0].words == ["A", "truly", "wonderful", "film!"]
    assert out[1].words == ["boring", "<br", "/>", "plot"]
    for a in out:
        assert abs(a.token_scores.sum() - 1) < 1e-5 and (a.token_scores >= 0).all()
        assert a.explainer == "attention (learned)" and a.target is None


def test_teacher_outputs_are_kept_read_back_exactly_and_recomputed_when_damaged(
    smat_run, tmp_path, capsys
):
    import jax

    from smat import data as data_lib
    from smat import explainers, teacher

    _, workdir, _ = smat_run
    # The SMAT run kept its teacher's outputs for its train, valid and test examples (the other
    # students of this module that share its teacher add theirs).
    kept = os.listdir(os.path.join(workdir, "teacher", teacher.OUTPUTS))
    assert len([f for f in kept if f.endswith(".npz")]) >= 3
    module, params, _, _ = runs.load_trained_model(os.path.join(workdir, "teacher"))
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 2000, size=(20, 64)).astype(np.int32)
    data = data_lib.ArrayDataset(
        {"input_ids": ids, "attention_mask": np.ones_like(ids), "label": np.zeros(20, np.int32)}
    )
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))

    def outputs(store):
        return teacher.cache_outputs(
            data, module.apply, params, explainers.AttentionExplainer(), 8, mesh, store=store
        ).arrays

    fresh = outputs(None)
    first, again = outputs(str(tmp_path)), outputs(str(tmp_path))
    (path,) = [os.path.join(tmp_path, f) for f in os.listdir(tmp_path)]
    with open(path, "r+b") as f:
        f.truncate(100)
    repaired = outputs(str(tmp_path))
    assert "unreadable" in capsys.readouterr().out
    for out in (first, again, repaired):
        for key in ("teacher_logits", "teacher_features"):
            np.testing.assert_array_equal(out[key], fresh[key])
    np.testing.assert_array_equal(outputs(str(tmp_path))["teacher_logits"], fresh["teacher_logits"])
    # Another explainer or other examples are other entries.
    other = teacher.cache_outputs(data, module.apply, params, None, 8, mesh, store=str(tmp_path))
    assert "teacher_features" not in other.arrays and len(os.listdir(tmp_path)) == 2


def test_teacher_keeps_its_test_logits_for_its_students(smat_run, tmp_path, cache_dir):
    from smat import teacher

    _, ref_dir, _ = smat_run
    teacher_dir = os.path.join(ref_dir, "teacher")
    store = os.path.join(teacher_dir, teacher.OUTPUTS)
    with np.load(os.path.join(teacher_dir, "test_predictions.npz")) as z:
        tested = z["logits"]

    def entries_with_test_logits():
        found = []
        for name in sorted(os.listdir(store)):
            with np.load(os.path.join(store, name)) as z:
                if np.array_equal(z["teacher_logits"], tested):
                    found.append(name)
        return found

    (written,) = entries_with_test_logits()  # by the teacher's own test
    # A student tested on the teacher's test examples (the smoke student's default is fewer)
    # reads that entry: no second forward pass, no second entry, the same bits.
    c = _config(
        "imdb_static", cache_dir, teacher_workdir=teacher_dir, **{"data.max_test_examples": 512}
    )
    c.teacher_explainer.name = "none"
    c.beta = 0.0
    assert StaticTeacherTrainer(c, str(tmp_path)).fit()["test/examples"] == len(tested)
    assert entries_with_test_logits() == [written]
    np.testing.assert_array_equal(_predictions(str(tmp_path))["teacher_logits"], tested)


def test_finished_runs_evaluate_and_predict_as_their_summaries_say_from_a_fresh_process(
    smat_run, tmp_path
):
    from smat import inference

    _, workdir, summary = smat_run
    # The run's own test set (the first data.max_test_examples of student_test) gives back
    # the summary's numbers: the student's simulability, its teacher's accuracy.
    student = inference.evaluate(workdir, split="student_test", limit=256)
    assert student["simulability"] == pytest.approx(summary["test/simulability"], abs=1e-6)
    teacher_dir = os.path.join(workdir, "teacher")
    teacher = inference.evaluate(teacher_dir, split="student_test", limit=512)
    with open(os.path.join(teacher_dir, "summary.json")) as f:
        assert teacher["accuracy"] == pytest.approx(json.load(f)["test/accuracy"], abs=1e-6)

    texts = ["A gripping, beautifully acted film.", "Dull, far too long, and badly written."]
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(f'text,label\n"{texts[0]}",1\n"{texts[1]}",0\n')
    ran = subprocess.run(
        [sys.executable, "-m", "smat.predict", "--workdir", workdir, "--input", str(reviews),
         "--out", str(tmp_path / "preds.csv"), "--metrics"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    metrics = json.loads(ran.stdout[ran.stdout.index("{") :])
    assert set(metrics) == {"examples", "accuracy", "simulability"} and metrics["examples"] == 2
    rows = list(csv.DictReader(open(tmp_path / "preds.csv")))
    here = inference.predict(workdir, texts=texts)
    assert [int(r["prediction"]) for r in rows] == here["prediction"].tolist()
    assert [float(r["p1"]) for r in rows] == pytest.approx(here["probabilities"][:, 1], abs=1e-6)
    assert [r["label"] for r in rows] == ["1.0", "0.0"]


def test_predict_errors_are_one_line(smat_run, tmp_path):
    _, workdir, _ = smat_run
    (tmp_path / "x.xml").write_text("<a/>")
    (tmp_path / "x.csv").write_text("review\nfine\n")
    for args, needle in [
        (["--input", str(tmp_path / "x.xml")], "give a .txt, .csv, .tsv or .jsonl file"),
        (["--input", str(tmp_path / "x.csv")], "has no column 'text' (columns: ['review'])"),
        (["--split", "nope"], "split='nope'; choose one of"),
        (["--student", "1"], "trained one student (0)"),
    ]:
        ran = subprocess.run(
            [sys.executable, "-m", "smat.predict", "--workdir", workdir, *args],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        assert ran.returncode == 2 and needle in ran.stderr, (args, ran.stderr[-1500:])
        assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr


def test_the_summary_shows_the_heaviest_heads_and_each_layers_share():
    from smat.trainers.student import head_weight_summary

    weights = np.array([[0.0, 0.1, 0.05], [0.6, 0.0, 0.25]])
    assert head_weight_summary(weights) == {
        "teacher_heads": "L1H0:0.600, L1H2:0.250, L0H1:0.100, L0H2:0.050",
        "teacher_layers": "L0:0.15, L1:0.85",
    }
    # An explainer of layer 3 alone names its heads by the teacher's layer, not "L0".
    assert head_weight_summary(np.full((1, 4), 0.25), layer=3) == {
        "teacher_heads": "L3H0:0.250, L3H1:0.250, L3H2:0.250, L3H3:0.250",
        "teacher_layers": "L3:1.00",
    }
