"""Explanations: where parameter counts come from, what each weight does, gate traces."""
from .explain import explain_lstm

__all__ = ["explain_lstm"]
