"""Shared fixtures. Tests use the offline IMDB CSV and MiniLM checkpoint that pip packages ship."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import settings

# Property-based tests: a bounded, fixed-seed budget in the normal run (CI); longer with
# SMAT_HYPOTHESIS_PROFILE=long (e.g. `SMAT_HYPOTHESIS_PROFILE=long python -m pytest -k fuzz`).
settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("SMAT_HYPOTHESIS_PROFILE", "ci"))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Most of the suite's time is compiling the same few smoke-size programs again: in each new
# trainer, xdist worker and subprocess (kill -9 and resume, several processes). JAX's persistent
# compilation cache compiles each once per machine; a loaded program is the compiled one, so
# results are unchanged. Per user (the cache is trusted code), in the user's cache folder, kept
# between runs; an existing JAX_COMPILATION_CACHE_DIR wins, and an empty one turns it off. A size
# bound makes JAX evict old entries and lock the folder (filelock), so that xdist workers and
# subprocesses never read an entry another is still writing (the suite needs ~50 MB).
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "smat",
        "jax-compilation-tests",
    ),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(1 << 30))
if not os.environ["JAX_COMPILATION_CACHE_DIR"]:
    del os.environ["JAX_COMPILATION_CACHE_DIR"]


@pytest.fixture(scope="session")
def minilm_folder() -> str:
    from smat.models import hf_checkpoint

    return hf_checkpoint.resolve("minilm")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    """One tokenisation cache for the whole session (tokenising IMDB once takes ~10 s)."""
    return str(tmp_path_factory.mktemp("token_cache"))


@pytest.fixture
def smoke_config(cache_dir):
    """The CLI's smoke config (configs/imdb_teacher.py:smoke), quiet, with the session cache."""
    from smat import config as config_lib

    c = config_lib.from_file(os.path.join(REPO, "configs", "imdb_teacher.py:smoke"))
    c.data.cache_dir = cache_dir
    c.progress = False
    return c


@pytest.fixture(scope="session")
def reference(tmp_path_factory, cache_dir):
    """One uninterrupted smoke teacher run (configs/imdb_teacher.py:smoke) that resumed, killed
    or damaged runs are compared against: (config, workdir, summary)."""
    from smat import config as config_lib
    from smat.trainers import NoTeacherTrainer

    c = config_lib.from_file(os.path.join(REPO, "configs", "imdb_teacher.py:smoke"))
    c.data.cache_dir = cache_dir
    c.progress = False
    workdir = str(tmp_path_factory.mktemp("reference"))
    summary = NoTeacherTrainer(c, workdir).fit()
    return c, workdir, summary


def predictions(workdir) -> dict:
    """The arrays of a run's test_predictions.npz."""
    import numpy as np

    with np.load(os.path.join(workdir, "test_predictions.npz")) as z:
        return {k: z[k] for k in z.files}


def kill_after_checkpoint(cmd: list[str], workdir, step: int) -> None:
    """Starts `cmd` (a training command on `workdir`) from the repo root and kills it with
    SIGKILL, no chance to clean up, once its latest checkpoint has reached `step`."""
    import signal
    import time

    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    latest = os.path.join(workdir, "checkpoints", "latest")
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        steps = [int(d) for d in os.listdir(latest) if d.isdigit()] if os.path.isdir(latest) else []
        if steps and max(steps) >= step:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture
def run_json_script():
    """Runs a Python script in a fresh interpreter (e.g. with fake devices) from the repo root
    and returns the JSON object on its last line of output."""
    return _run_json_script


def _run_json_script(script: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def student_config(name, cache_dir, **overrides):
    """A student config file's smoke variant, quiet, with the session's tokenisation cache."""
    from smat import config as config_lib

    c = config_lib.from_file(os.path.join(REPO, "configs", f"{name}.py:smoke"))
    c.data.cache_dir = cache_dir
    c.teacher.data.cache_dir = cache_dir
    c.progress = False
    c.teacher.progress = False
    for key, value in overrides.items():
        node = c
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return c


@pytest.fixture(scope="session")
def smat_run(tmp_path_factory, cache_dir):
    """SMAT on the smoke config with no teacher_workdir: the teacher is trained first."""
    from smat.trainers import LearnableTeacherTrainer

    c = student_config("imdb_learnable", cache_dir)
    workdir = str(tmp_path_factory.mktemp("smat"))
    return c, workdir, LearnableTeacherTrainer(c, workdir).fit()
