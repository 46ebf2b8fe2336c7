"""Evaluating explanations: plausibility against human rationales, faithfulness to the model."""
