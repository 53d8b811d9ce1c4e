"""Dumping and loading flat schemas without marshmallow's per-field machinery, on hot paths.

marshmallow's `dump` walks every field object on every call (~10 µs for a task). For a flat
schema whose values are already stored in their wire types (strings, ints, JSON objects),
a dump is just renaming keys; `plain_dumper` reads the renames off the schema once, so the
schema stays the single description of the shape.

`plain_loader` does the same for loading: it reads once, off the schema, which keys it takes
and what each accepts (a string, one of a status field's choices, a JSON object), and takes
a body that plainly fits as it is. Anything else, every error included, goes to the
schema's own `load`, so marshmallow still decides every case that is not plain and words
every error. Schemas with validators, hooks or fields of other kinds are refused when the
loader is made, not guessed at. tests/test_fast_dump.py checks that both give the same
document, or the same errors.
"""

from marshmallow import EXCLUDE, RAISE, Schema, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

from .fields import StatusField

PLAIN = (fields.String, fields.Integer, fields.Dict, fields.Raw)


def plain_dumper(schema: Schema):
    pairs = []
    for name, field in schema.dump_fields.items():
        if not isinstance(field, PLAIN) or isinstance(field, (fields.Nested, fields.List)):
            raise TypeError(f"{type(schema).__name__}.{name} is not a plain field")
        pairs.append((field.data_key or name, field.attribute or name))

    def dump(obj: dict) -> dict:
        return {key: obj[attribute] for key, attribute in pairs}

    return dump


def _is_str(value) -> bool:
    return type(value) is str


def _is_object(value) -> bool:
    return type(value) is dict and all(type(key) is str for key in value)


def _accepts(schema: Schema, name: str, field: fields.Field):
    """What `field` takes as it is, as a test of the value; TypeError if it is not plain."""
    where = f"{type(schema).__name__}.{name}"
    if field.validators or field.pre_load or field.post_load:
        raise TypeError(f"{where} has validators or processors")
    if type(field) is fields.String:
        return _is_str
    if type(field) is StatusField:
        choices = frozenset(field.CHOICES)
        return lambda value: type(value) is str and value in choices
    if type(field) is fields.Dict and field.value_field is None and (
            field.key_field is None or (type(field.key_field) is fields.String
                                        and not field.key_field.validators)):
        return _is_object
    raise TypeError(f"{where} is not a plain field")


def plain_loader(schema: Schema):
    """`schema.load`, minus marshmallow's machinery for bodies that plainly fit."""
    name = type(schema).__name__
    if any(schema._hooks[tag] for tag in (PRE_LOAD, POST_LOAD, VALIDATES, VALIDATES_SCHEMA)):
        raise TypeError(f"{name} has load hooks or schema validators")
    if schema.many or schema.partial or schema.unknown not in (EXCLUDE, RAISE):
        raise TypeError(f"{name} loads with many, partial or unknown=INCLUDE")
    plan = []  # (key in the body, key in the result, test, required, default), in field order
    for attr, field in schema.load_fields.items():
        plan.append((attr if field.data_key is None else field.data_key, field.attribute or attr,
                     _accepts(schema, attr, field), field.required, field.load_default))
    known = frozenset(key for key, *_ in plan)
    refuse_unknown = schema.unknown == RAISE
    full_load = schema.load

    def load(data):
        if type(data) is not dict or (refuse_unknown and not known.issuperset(data)):
            return full_load(data)
        result = {}
        for key, attribute, accepts, required, default in plan:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    return full_load(data)
                if default is not missing:
                    result[attribute] = default() if callable(default) else default
            elif accepts(value):
                result[attribute] = dict(value) if type(value) is dict else value
            else:
                return full_load(data)
        return result

    return load
