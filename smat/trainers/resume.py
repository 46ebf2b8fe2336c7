"""What a workdir's earlier run allows a new start: resume it, extend it, or refuse.

A workdir holds one run. Started again with the same config, the run resumes (or, finished,
prints its summary); with fields that only watch it changed (`ONLOOKER_FIELDS`), too; with its
length, patience or intervals changed (`EXTENSION_FIELDS`), a run (a finished one too)
continues from its latest checkpoint, where no learning rate depends on the run's length. Any
other change is refused, naming the fields.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import ml_collections

from smat import checkpointing
from smat import config as config_lib
from smat import teacher as teacher_lib
from smat.errors import ConfigError

# Fields that watch a run without changing what it computes: a resumed run may change them.
ONLOOKER_FIELDS = (
    "callbacks",
    "logging.writers",
    "logging.project",
    "logging.wandb_mode",
    "logging.wandb_entity",
    "logging.mlflow_tracking_uri",
    "progress",
    "train.profile_steps",
)
# Fields that extend a run (a finished one too): its length, patience and intervals. The
# steps already taken stay as they were; a changed length is refused under a decaying schedule.
EXTENSION_FIELDS = (
    "train.num_epochs",
    "train.num_steps",
    "train.patience",
    "train.eval_every_steps",
    "train.log_every_steps",
    "ckpt.every_steps",
)


def check_workdir(workdir: str, config: ml_collections.ConfigDict) -> dict[str, Any] | None:
    """Returns the summary of a finished run in the workdir; refuses a different config,
    but for onlooker fields and, to extend the run, its length and intervals."""
    config_path = os.path.join(workdir, "config.json")
    extended: list[str] = []
    if os.path.isfile(config_path):
        saved = checkpointing.read_json(config_path)
        diff = [
            change
            for change in config_lib.diff(
                saved, config_lib.to_dict(config), defaults=config_lib.defaults()
            )
            if change.split(":")[0] not in ONLOOKER_FIELDS
        ]
        extended = [d for d in diff if d.split(":")[0] in EXTENSION_FIELDS]
        if len(extended) < len(diff):
            raise ConfigError(
                f"workdir {workdir} holds a run with a different config "
                f"({'; '.join(d for d in diff if d not in extended)}). "
                "Resume with the same config, or use another --workdir (or delete this one) "
                "to start a new run"
            )
        _check_extension(workdir, config, extended)
    summary_path = os.path.join(workdir, "summary.json")
    if os.path.isfile(summary_path):
        if not extended:
            return checkpointing.read_json(summary_path)
        # Extended: train on from the final checkpoint; the old ending is kept aside, and the
        # cached outputs of the old final params (a teacher's, which its students and its own
        # test read) are dropped: they are keyed by the examples, not by the params.
        os.replace(summary_path, os.path.join(workdir, "summary.before_extension.json"))
        shutil.rmtree(os.path.join(workdir, teacher_lib.OUTPUTS), ignore_errors=True)
        print(f"extending {workdir}: {'; '.join(extended)}", flush=True)
    return None


def _check_extension(workdir: str, config: ml_collections.ConfigDict, extended: list[str]) -> None:
    """A longer (or shorter) run continues exactly only where no learning rate depends on
    the run's length."""
    if not any(d.startswith(("train.num_epochs", "train.num_steps")) for d in extended):
        return
    decaying = [  # this run's optimisers (optim, meta.optim, ...), not its teacher's
        f"{name}={value!r}"
        for name, value in config_lib.leaves(config)
        if name.endswith(".schedule") and not name.startswith("teacher.")
        if value != "constant"
    ]
    if decaying:
        raise ConfigError(
            f"cannot extend {workdir} ({'; '.join(extended)}): {', '.join(decaying)} "
            "decays over the run's length, so the extended run would not continue the "
            "same schedule; start a new run in another --workdir (optionally warm-started)"
        )
