"""HTTP routes, schemas and error mapping."""

from solbot.api._app import ReadinessCheck, create_app
from solbot.api._errors import ApiError, error_response

__all__ = ["ApiError", "ReadinessCheck", "create_app", "error_response"]
