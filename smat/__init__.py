"""smat: Scaffold-Maximizing Training (learning explanations that teach) in JAX/Flax."""

__version__ = "0.1.0"
