"""The W&B and MLflow writers in their local modes (W&B offline files, an MLflow sqlite store):
one tracker run per smat run, each step once over a resume, refused clearly when not installed.
A kill -9 and resume of a real run through them is in tests/test_plugins.py."""

import importlib.util

import ml_collections
import pytest

from smat import metric_writers
from smat.errors import ConfigError
from smat.trainers import NoTeacherTrainer

TRACKERS = [name for name in ("wandb", "mlflow") if importlib.util.find_spec(name)]


def mlflow_history(uri: str, name: str) -> dict[int, float]:
    """{step: value} of metric `name` in the one run of the "smat" experiment at `uri`."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("smat").experiment_id])
    history = client.get_metric_history(run.info.run_id, name)
    assert len({m.step for m in history}) == len(history), "a step logged twice"
    return {m.step: m.value for m in history}


def wandb_rows(logdir) -> list[tuple[int, dict]]:
    """The history rows of the run's W&B files, every start of it, in order."""
    from smat import tracker_writers

    key = tracker_writers.run_key(str(logdir))
    return list(tracker_writers.wandb_history(str(logdir), key))


def _settings(tmp_path, writers):
    s = ml_collections.ConfigDict()
    s.writers, s.project, s.wandb_mode, s.wandb_entity = writers, "smat", "offline", ""
    s.mlflow_tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return s


@pytest.mark.parametrize("tracker", ["wandb", "mlflow"])
def test_a_tracker_holds_each_step_once_over_resumes(tmp_path, tracker):
    pytest.importorskip(tracker, reason=f"{tracker} not installed: its writer goes untested")
    logdir, settings = str(tmp_path / "run"), _settings(tmp_path, tracker)
    (tmp_path / "run").mkdir()
    hparams = {"setup": "no_teacher", "optim.learning_rate": 0.001}
    # A first process logs steps 1-5 and stops; the run resumes from its checkpoint of step 2
    # (so it logs 3-5 again, as a killed run does) and ends at 8.
    for resumed_at, steps in ((None, range(1, 6)), (2, range(3, 9))):
        writer = metric_writers.create(logdir, settings, resumed_at, hparams)
        for step in steps:
            writer.write_scalars(step, {"train/loss": 1.0 / step, "train/bad:name": step})
        writer.write_hparams(steps[-1], hparams, {"test/accuracy": 0.75})
        writer.close()

    if tracker == "mlflow":
        uri = settings.mlflow_tracking_uri
        assert mlflow_history(uri, "train/loss") == pytest.approx({s: 1 / s for s in range(1, 9)})
        assert mlflow_history(uri, "train/bad_name") == {s: s for s in range(1, 9)}
        assert mlflow_history(uri, "test/accuracy") == {5: 0.75, 8: 0.75}
        from mlflow import MlflowClient

        (run,) = MlflowClient(tracking_uri=uri).search_runs(["1"])
        assert run.data.params == {"setup": "no_teacher", "optim.learning_rate": "0.001"}
        assert run.info.status == "FINISHED" and run.info.run_name == logdir  # outside the cwd
    else:
        rows = wandb_rows(logdir)
        assert [step for step, row in rows if "train/loss" in row] == list(range(1, 9))
        assert [row["train/loss"] for _, row in rows] == pytest.approx([1 / s for s in range(1, 9)])
        assert [step for step, row in rows if "test/accuracy" in row] == [5, 8]


def test_a_tracker_that_is_not_installed_is_refused_before_training(
    smoke_config, tmp_path, monkeypatch
):
    monkeypatch.setitem(metric_writers.PACKAGES, "wandb", "no_such_package_xyz")
    smoke_config.logging.writers = "tensorboard,wandb"
    with pytest.raises(ConfigError, match=r"no_such_package_xyz is not installed; pip install"):
        NoTeacherTrainer(smoke_config, str(tmp_path))
    smoke_config.logging.writers, smoke_config.logging.wandb_mode = "tensorboard", "offlin"
    with pytest.raises(ConfigError, match="logging.wandb_mode='offlin'; choose online, offline"):
        NoTeacherTrainer(smoke_config, str(tmp_path))
