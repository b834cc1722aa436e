"""Errors every layer may raise: entry points print them as one line, without a traceback."""


class ConfigError(ValueError):
    """A config value or path that cannot work; the message names the key, the value and the fix."""


class MissingPathError(ConfigError, FileNotFoundError):
    """A config path that does not exist."""
