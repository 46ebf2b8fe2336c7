"""A student's teacher, trained when it is needed: the first student run (or sweep) that finds
no finished teacher in its teacher workdir trains it; a run that finds another process training
it waits for that one."""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections

from smat import checkpointing
from smat import config as config_lib
from smat import workdir as workdir_lib
from smat.trainers.no_teacher import NoTeacherTrainer

WAIT_S = 10.0  # how often a student polls a teacher another process is training


def ensure_trained(student_config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains (or resumes) the teacher of a student config in `workdir` unless it has
    finished (see `config.teacher_config`); returns its summary."""

    summary_path = os.path.join(workdir, "summary.json")
    waiting = False
    while not os.path.isfile(summary_path):
        busy = workdir_lib.holder(workdir)
        if busy is None:
            if jax.process_index() == 0:
                print(f"no finished teacher in {workdir}: training it first", flush=True)
            try:
                return NoTeacherTrainer(config_lib.teacher_config(student_config), workdir).fit()
            except workdir_lib.WorkdirBusy:  # another process took it in the meantime
                continue
        # Another run (a second sweep on the same root) is training this teacher: use it.
        if not waiting:
            print(
                f"the teacher in {workdir} is being trained by {workdir_lib.describe(busy)}; "
                "waiting for it",
                flush=True,
            )
            waiting = True
        time.sleep(WAIT_S)
    return checkpointing.read_json(summary_path)
