"""Answers about many jobs at once: counts by status, and a bulk action's outcome per job."""

from marshmallow import Schema, fields, validate

from .fields import StatusField

OUTCOMES = ["done", "unchanged", "refused"]


class JobCountsSchema(Schema):
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Jobs per status; a status no job has is left out"})


class BulkOutcomeSchema(Schema):
    name = fields.String()
    status = StatusField(allow_none=True, metadata={
        "description": "The job's status after the action (delete: when it was deleted); "
                       "null for a job gone before its turn"})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES), metadata={
        "description": "done: changed as its own endpoint would; unchanged: that endpoint "
                       "would change nothing; refused: it would refuse (msg says why)"})
    msg = fields.String(allow_none=True)


class BulkAnswerSchema(Schema):
    matched = fields.Integer(metadata={
        "description": "Jobs the filters kept when the action began (results holds at most "
                       "`limit` of them, oldest first)"})
    results = fields.List(fields.Nested(BulkOutcomeSchema))
