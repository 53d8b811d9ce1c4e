"""Fields and validators shared by the request schemas."""

import re

from marshmallow import fields, validate

from statemachine import Status

# Workspace, job, step and task names, as upstream spells the rule.
NAME_PATTERN = r"^[a-z](?!.*--)[a-z0-9\-@.+_]{1,62}(?<!-)$"
NAME_RE = re.compile(NAME_PATTERN)
NAME_MESSAGE = (
    "Name must start with a lowercase letter, be 2-63 characters of lowercase letters, "
    "digits and '-@.+_', with no '--' and no trailing '-'."
)


def valid_name(value: object) -> bool:
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


class StatusField(fields.String):
    """A status spelled as on the wire; loads to the plain string."""

    default_error_messages = {"enum": "Input should be one of: {choices}."}
    CHOICES = [s.value for s in Status]

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in self.CHOICES:
            raise self.make_error("enum", choices=", ".join(f"'{c}'" for c in self.CHOICES))
        return text


class Timestamp(fields.String):
    """An RFC 3339 UTC timestamp, stored and sent as text."""


class Name(fields.String):
    """A name following upstream's pattern (which the OpenAPI document carries too)."""

    default_error_messages = {"pattern": NAME_MESSAGE}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})["pattern"] = NAME_PATTERN
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not NAME_RE.fullmatch(text):
            raise self.make_error("pattern")
        return text


at_least_one = validate.Length(min=1, error="At least one step is required.")


__all__ = ["Name", "StatusField", "Timestamp", "NAME_PATTERN", "valid_name", "at_least_one"]
