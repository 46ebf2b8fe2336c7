"""Trainers by setup name (`config.setup`)."""

from smat.registry import Registry
from smat.trainers.base import Trainer
from smat.trainers.learnable import LearnableTeacherTrainer
from smat.trainers.no_teacher import NoTeacherTrainer
from smat.trainers.student import StaticTeacherTrainer

TRAINERS: Registry = Registry("setup")
TRAINERS.register("no_teacher")(NoTeacherTrainer)
TRAINERS.register("static_teacher")(StaticTeacherTrainer)
TRAINERS.register("learnable_teacher")(LearnableTeacherTrainer)

__all__ = [
    "TRAINERS",
    "LearnableTeacherTrainer",
    "NoTeacherTrainer",
    "StaticTeacherTrainer",
    "Trainer",
]
