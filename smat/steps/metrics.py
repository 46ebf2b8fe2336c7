"""Every step's metrics (clu collections), in one place: the teacher's training and evaluation
against gold labels, the student's training (and SMAT's meta-step) and its evaluation against
the teacher (simulability) and the gold labels."""

# No `from __future__ import annotations`: clu reads the metric classes from annotations.

import flax.struct
from clu import metrics as clu_metrics

from smat import tasks


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
    """The teacher's training step."""

    loss: clu_metrics.Average.from_output("loss")
    accuracy: clu_metrics.Average.from_output("accuracy")
    grad_norm: clu_metrics.Average.from_output("grad_norm")
    learning_rate: clu_metrics.LastValue.from_output("learning_rate")


@flax.struct.dataclass
class EvalMetrics(clu_metrics.Collection):
    """The teacher against gold labels (classification)."""

    loss: clu_metrics.Average.from_output("loss")
    accuracy: clu_metrics.Average.from_output("accuracy")


@flax.struct.dataclass
class RegressionEvalMetrics(clu_metrics.Collection):
    """The teacher against gold scores (regression)."""

    loss: clu_metrics.Average.from_output("loss")  # mean squared error
    pearson: tasks.pearson_metric("prediction", "label")


@flax.struct.dataclass
class SimulationEvalMetrics(clu_metrics.Collection):
    """A student against its teacher (simulability) and the gold labels (classification)."""

    simulability: clu_metrics.Average.from_output("simulability")
    loss: clu_metrics.Average.from_output("loss")
    accuracy: clu_metrics.Average.from_output("accuracy")


@flax.struct.dataclass
class SimulationRegressionMetrics(clu_metrics.Collection):
    """A student against its teacher's and the gold scores: Pearson r (regression)."""

    simulability: tasks.pearson_metric("prediction", "target")
    loss: clu_metrics.Average.from_output("loss")
    accuracy: tasks.pearson_metric("prediction", "label")  # Pearson r with the gold scores


_STUDENT_METRICS = {
    "loss": clu_metrics.Average.from_output("loss"),
    "simulation_loss": clu_metrics.Average.from_output("simulation_loss"),
    "explanation_kl": clu_metrics.Average.from_output("explanation_kl"),
    "simulability": clu_metrics.Average.from_output("simulability"),
    "grad_norm": clu_metrics.Average.from_output("grad_norm"),
    "learning_rate": clu_metrics.LastValue.from_output("learning_rate"),
    # Total-variation distance of the student explainer's head weights ψ from uniform.
    "psi_distance": clu_metrics.LastValue.from_output("psi_distance"),
}
StudentMetrics = clu_metrics.Collection.create(**_STUDENT_METRICS)
LearnableMetrics = clu_metrics.Collection.create(
    **_STUDENT_METRICS,
    meta_loss=clu_metrics.Average.from_output("meta_loss"),
    meta_grad_norm=clu_metrics.Average.from_output("meta_grad_norm"),
    # Cosine between successive meta-gradients: near 0 the meta-signal is noise.
    meta_grad_cosine=clu_metrics.Average.from_output("meta_grad_cosine"),
    phi_distance=clu_metrics.LastValue.from_output("phi_distance"),
    phi_nonzero_heads=clu_metrics.LastValue.from_output("phi_nonzero_heads"),
)
