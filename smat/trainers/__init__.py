"""Trainers by setup name (`config.setup`)."""

from smat.registry import Registry
from smat.trainers.base import Trainer
from smat.trainers.no_teacher import NoTeacherTrainer

TRAINERS: Registry = Registry("setup")
TRAINERS.register("no_teacher")(NoTeacherTrainer)

__all__ = ["TRAINERS", "NoTeacherTrainer", "Trainer"]
