"""Command-line entry point.

  python -m smat.main --config=configs/imdb_teacher.py[:variant] --workdir=runs/imdb/teacher \
      [--config.field=value ...]

Builds the trainer named by `config.setup` and trains to the end; run again with the same
arguments to resume an interrupted run (a finished one says so and exits).
"""

from __future__ import annotations

import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with a :variant (e.g. :smoke).", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
    from smat.errors import ConfigError
    from smat.trainers import TRAINERS

    config = _CONFIG.value
    try:
        trainer = TRAINERS.get(config.setup)(config, _WORKDIR.value)
        summary = trainer.fit()
    except KeyError as e:
        sys.exit(f"config error: setup: {e.args[0]}")
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    if summary["status"] == "interrupted":
        sys.exit(128 + signal.Signals[summary["signal"]].value)


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
