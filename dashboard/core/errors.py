"""The one shape of a refusal: a stable ``code``, a ``message`` for a person, and ``where`` it is.

Every module's own error type (``ApiError``, the replay actions' ``Invalid``, ``LifecycleError``,
``ReportError``, ``PatternError``, ``SigV4Error``) is a :class:`Problem`, so a caller that only
needs to answer one handles them all alike: the JSON API (``dashboard.core.http.api_view``) turns
any Problem that reaches it into ``{"error": {"code", "message", "where"?}}`` with its ``status``.

Pure: no Django, so the pattern engine may use it too.
"""

from __future__ import annotations


class Problem(Exception):
    """Input that cannot be used, said as ``code`` (stable, for programs), ``message`` (for a
    person: ``str(problem)``) and ``where`` (the parameter, field or path at fault; None when it is
    the request as a whole).

    ``status`` is the HTTP status an API answers it with: 400 unless a subclass or instance says
    otherwise. ``code`` defaults to the class's ``default_code``.
    """

    status: int = 400
    default_code: str = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.where = where

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # The default reduction would call __init__ with the message only and lose code and where;
        # the instance's attributes (status of a subclass, too) come back from its __dict__.
        return (_restore, (type(self), self.__dict__.copy()))


def _restore(cls: type[Problem], state: dict[str, object]) -> Problem:
    problem = cls.__new__(cls)
    Exception.__init__(problem, state.get("message", ""))
    problem.__dict__.update(state)
    return problem
