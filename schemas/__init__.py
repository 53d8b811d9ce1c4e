"""marshmallow schemas for requests and responses. Each view module builds the instances it
uses, beside the views that declare them (app/api.py)."""

from .fast import plain_dumper
from .errors import HTTPValidationErrorSchema, ValidationErrorSchema, error, validation_errors
from .fields import NAME_PATTERN, valid_name

__all__ = [
    "HTTPValidationErrorSchema", "ValidationErrorSchema", "NAME_PATTERN", "error",
    "validation_errors", "valid_name", "plain_dumper",
]
