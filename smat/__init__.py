"""smat: Scaffold-Maximizing Training (learning explanations that teach) in JAX/Flax.

Public API (documented in docs/api.md, built from these docstrings):
  train_explainer, student_trainer, train_teacher, load_explainer, load_teacher_explainer,
  TrainedExplainer, Attribution, Attributions, ModelOutput, register_model, register_explainer,
  predict, evaluate.
"""

__version__ = "0.1.0"

# Lazy, so `python -m smat.main --help` and config errors do not wait for JAX to import.
_EXPORTS = {
    "train_explainer": "smat.api",
    "student_trainer": "smat.api",
    "train_teacher": "smat.api",
    "load_explainer": "smat.saved_explainers",
    "load_teacher_explainer": "smat.saved_explainers",
    "TrainedExplainer": "smat.trained_explainer",
    "Attribution": "smat.attribution",
    "Attributions": "smat.attribution",
    "ModelOutput": "smat.models.protocol",
    "register_model": "smat.models",
    "register_explainer": "smat.explainers",
    "predict": "smat.inference",
    "evaluate": "smat.inference",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'smat' has no attribute {name!r}")
