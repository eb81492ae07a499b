"""The error types unrolled raises on bad input.

Every error is a subclass of :class:`UnrolledError`, which is itself a ``ValueError``,
so code written against Keras (which raises ``ValueError``) keeps working.

=====================  =============================================================
``InputShapeError``    an array has the wrong rank, feature count, dtype or length
``ConfigError``        a constructor argument or config value is invalid
``ModelFileError``     a model or weights file is corrupt, truncated, hostile or of
                       an unsupported kind; loading never executes code
``DataError``          a CSV / table handed to the data tools is unusable
=====================  =============================================================
"""
from __future__ import annotations


class UnrolledError(ValueError):
    """Base class of every error unrolled raises on bad input."""


class InputShapeError(UnrolledError):
    """An input array has the wrong rank, shape, dtype or length."""


class ConfigError(UnrolledError):
    """A constructor argument or configuration value is invalid."""


class ModelFileError(UnrolledError):
    """A model/weights file cannot be read: corrupt, truncated, unsupported or unsafe."""


class DataError(UnrolledError):
    """Tabular data (CSV, DataFrame, array) cannot be used as given."""


class DataWarning(UserWarning):
    """Data that can be used but deserves a look (a gap in a regular time axis).
    The CLI's ``--strict`` turns these into errors."""
