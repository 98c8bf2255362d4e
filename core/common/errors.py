"""Errors a person can act on: one sentence naming the field, the problem and the fix."""


class UserError(Exception):
    """Bad input from a person (form, config file, CLI, data). Never shown with a traceback.

    `code` is a stable machine-readable name (used in status.json), `field` the
    config key or form field at fault, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "INVALID_INPUT"):
        super().__init__(message)
        self.field = field
        self.code = code

    @property
    def sentence(self) -> str:
        message = str(self)
        return f"{self.field}: {message}" if self.field else message
