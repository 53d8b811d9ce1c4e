"""The seed's HTTPValidationError, and the conversion of marshmallow's messages into it.

marshmallow reports `{field: [message, ...]}`, nested for nested data; clients of the
upstream API expect `[{type, loc, msg, input, ctx}]`, so each message is flattened to its
path and given the type its template stands for.
"""

import re

from marshmallow import Schema, fields, validate

from .executor import PROVIDER_TAG, ContainerSpecSchema
from .fields import EXTRA_MESSAGE, NAME_PATTERN, Instant, Name, StatusField


class ValidationErrorSchema(Schema):
    loc = fields.List(fields.Raw(), required=True)
    msg = fields.String(required=True)
    type = fields.String(required=True)
    input = fields.Raw()
    ctx = fields.Dict()


class HTTPValidationErrorSchema(Schema):
    detail = fields.List(fields.Nested(ValidationErrorSchema))


def _template(message: str) -> re.Pattern:
    parts = re.split(r"\{+\w+\}+", message)
    return re.compile(".*".join(re.escape(p) for p in parts) + r"\Z", re.S)


# (message template, error type); templates come from the fields' own defaults.
_TYPES = [
    (_template(fields.Field.default_error_messages["required"]), "missing"),
    (_template(fields.Field.default_error_messages["null"]), "null_forbidden"),
    (_template(fields.String.default_error_messages["invalid"]), "string_type"),
    (_template(fields.Dict.default_error_messages["invalid"]), "dict_type"),
    (_template(fields.List.default_error_messages["invalid"]), "list_type"),
    (_template(fields.Integer.default_error_messages["invalid"]), "int_parsing"),
    (_template(fields.Nested.default_error_messages["type"]), "dict_type"),
    (_template(Schema._default_error_messages["type"]), "dict_type"),
    (_template(Schema._default_error_messages["unknown"]), "extra_forbidden"),
    (_template(EXTRA_MESSAGE), "extra_forbidden"),
    (_template(PROVIDER_TAG), "union_tag_invalid"),
    (_template(ContainerSpecSchema._declared_fields["image"].validators[0].error),
     "string_too_short"),
    (_template(StatusField.default_error_messages["enum"]), "enum"),
    (_template(validate.OneOf.default_message), "literal_error"),
    (_template(validate.Range.message_all), "out_of_range"),
    (_template(validate.Range.message_min), "out_of_range"),
    (_template(validate.Range.message_max), "out_of_range"),
    (_template(Name.default_error_messages["pattern"]), "string_pattern_mismatch"),
    (_template(Instant.default_error_messages["instant"]), "datetime_parsing"),
    (re.compile(r"artifact_url must be "), "artifact_url_invalid"),
]
_CTX = {
    "enum": {"expected": StatusField.CHOICES},
    "string_pattern_mismatch": {"pattern": NAME_PATTERN},
    "union_tag_invalid": {"discriminator": "'provider'",
                          "expected_tags": "'cpu', 'gpu', 'gpu_distributed', 'subprocess'"},
}


def error_type(message: str) -> str:
    return next((kind for template, kind in _TYPES if template.match(message)), "value_error")


def _walk(data, path):
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _flatten(messages, path=()):
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, path if key == "_schema" else (*path, key))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            yield path, message
    else:
        yield path, str(messages)


def validation_errors(messages, location: str, raw) -> list[dict]:
    """marshmallow's messages for input `raw` found at `location` ('body', 'query', 'path')."""
    errors = []
    for path, message in _flatten(messages):
        kind = error_type(message)
        errors.append({
            "type": kind,
            "loc": [location, *path],
            "msg": message,
            "input": _walk(raw, path),
            "ctx": _CTX.get(kind, {}),
        })
    return errors


def error(kind: str, loc: list, msg: str, input=None, ctx=None) -> dict:
    """One hand-made error entry in the same shape."""
    return {"type": kind, "loc": loc, "msg": msg, "input": input, "ctx": ctx or {}}
