"""Fields and validators shared by the request schemas."""

import re
from datetime import datetime, timedelta, timezone

from marshmallow import RAISE, Schema, fields, validate

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


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
                      r"([Zz]|[+-](\d{2}):(\d{2}))\Z")


def utc_text(moment: datetime) -> str:
    """A moment as stored: UTC, microseconds, fixed width, so text order is time order."""
    m = moment.astimezone(timezone.utc)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond:06d}Z")


def from_utc_text(text: str) -> datetime:
    """The moment a stored time (utc_text's form) names."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def parse_rfc3339(text: str) -> str:
    """An RFC 3339 timestamp, in any offset, as stored (see `utc_text`); ValueError if it is
    not one. A leap second (:60) counts as the last microsecond of its minute."""
    found = _RFC3339.match(text)
    if not found:
        raise ValueError("not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(v) for v in found.groups()[:6])
    fraction, zone, off_h, off_m = found.group(7), found.group(8), found.group(9), found.group(10)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60:
        second, micro = 59, 999_999
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("offset out of range")
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if zone[0] == "-" else 1)
    try:
        return utc_text(datetime(year, month, day, hour, minute, second, micro,
                                 tzinfo=timezone(offset)))
    except (ValueError, OverflowError):
        raise ValueError("not a date and time that exists") from None


class Instant(Timestamp):
    """An RFC 3339 timestamp in a request; loads to the stored form (UTC, microseconds)."""

    default_error_messages = {"instant": "Not an RFC 3339 date-time with a time zone."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise self.make_error("instant") from None


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


# pydantic's words for a key a model does not name, as upstream's clients know them.
EXTRA_MESSAGE = "Extra inputs are not permitted"


class Body(Schema):
    """An object of a request body: a key it does not name is a 422 (`extra_forbidden`),
    never dropped, so a misspelt field cannot be acknowledged as if it had been applied.
    Free-form objects (status_details, config, ...) are `fields.Dict`s, not `Body`s."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": EXTRA_MESSAGE}


def stamps(by: bool = True) -> tuple:
    """An answer's created_at, created_by, updated_at, updated_by (without the two `_by`, the
    principals, if `by` is False). Unpacked in a schema's body, so the wire order stays:
    `created_at, created_by, updated_at, updated_by = stamps()`."""
    if not by:
        return Timestamp(), Timestamp()
    return Timestamp(), fields.String(allow_none=True), Timestamp(), fields.String(allow_none=True)


def progress() -> tuple:
    """An answer's status, status_details and error_details, unpacked as `stamps` is."""
    return StatusField(), fields.Dict(), fields.Dict()


at_least_one = validate.Length(min=1, error="At least one step is required.")


__all__ = ["Body", "EXTRA_MESSAGE", "Instant", "Name", "StatusField", "Timestamp", "NAME_PATTERN",
           "parse_rfc3339", "utc_text", "valid_name", "at_least_one", "progress", "stamps"]
