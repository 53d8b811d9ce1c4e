"""Log lines: what workers append, and the pages readers get."""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .fields import Body, Instant, Name, Timestamp

MAX_LINES = 1000  # lines in one append
MAX_MESSAGE_BYTES = 64 * 1024  # one message, as UTF-8
MAX_LIMIT = 1000  # lines in one page
MAX_CURSOR = 1024


def _message_fits(message: str) -> None:
    try:
        size = len(message.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") cannot be stored as text
        raise ValidationError("The message is not valid Unicode text.") from None
    if size > MAX_MESSAGE_BYTES:
        raise ValidationError(f"The message is {size} bytes as UTF-8; at most "
                              f"{MAX_MESSAGE_BYTES} are accepted.")


class LogLineInSchema(Body):
    """One line as a worker sends it; `timestamp` defaults to when it arrived."""

    job_step = Name(required=True)
    job_task = Name(required=True)
    message = fields.String(required=True, validate=_message_fits)
    timestamp = Instant()


class LogAppendSchema(Body):
    data = fields.List(fields.Nested(LogLineInSchema), required=True, validate=validate.Length(
        min=1, max=MAX_LINES, error=f"Send 1 to {MAX_LINES} lines at a time."))


class LogAppendedSchema(Schema):
    accepted = fields.Integer()


class LogQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))
    page_cursor = fields.String(validate=validate.Length(max=MAX_CURSOR), metadata={
        "description": "next_page or prev_page of an earlier answer (same job and filters)"})
    step_id = Name(metadata={"description": "Only this step's lines (a step name)"})
    task_id = Name(metadata={"description": "Only this task's lines (a task name)"})
    attempt_id = fields.Integer(validate=validate.Range(min=1, max=1_000_000), metadata={
        "description": "1 for the first attempt, 2 after one rerun, ...; default the current"})


class LogLineSchema(Schema):
    job = fields.String()
    job_step = fields.String()
    job_task = fields.String()
    message = fields.String()
    timestamp = Timestamp()


class LogPageSchema(Schema):
    data = fields.List(fields.Nested(LogLineSchema))
    next_page = fields.String()
    prev_page = fields.String()
    total = fields.Integer()
