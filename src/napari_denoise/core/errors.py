"""Exceptions whose message is meant for the user (one clear line, no traceback)."""


class DenoiseError(ValueError):
    """Bad input or settings, with a message meant for the user."""


class ModelNotFoundError(DenoiseError):
    """An unknown model name or a missing model file."""


class WeightsError(DenoiseError):
    """A weights file that cannot be used: missing, corrupt, or without a valid card."""
