"""smat: Scaffold-Maximizing Training (learning explanations that teach) in JAX/Flax."""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `python -m smat.main --help` and config errors do not wait for JAX to import.
    if name == "load_teacher_explainer":
        from smat.explain import load_teacher_explainer

        return load_teacher_explainer
    raise AttributeError(f"module 'smat' has no attribute {name!r}")
