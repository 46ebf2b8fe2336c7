"""Host-side callbacks of the Trainers."""

from smat.callbacks.base import Callback, improved
from smat.callbacks.checkpoint import Checkpoint
from smat.callbacks.early_stopping import EarlyStopping
from smat.callbacks.explainer_trajectory import ExplainerTrajectory
from smat.callbacks.metric_logging import MetricLogger
from smat.callbacks.profiler import Profiler
from smat.callbacks.progress import Progress

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "ExplainerTrajectory",
    "MetricLogger",
    "Profiler",
    "Progress",
    "improved",
]
