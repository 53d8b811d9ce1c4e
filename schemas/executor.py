"""A step's executor, checked as upstream's models check it (nemo_platform_plugin.jobs.providers).

upstream's `executor` is a union discriminated by `provider`: `cpu`, `gpu` and
`gpu_distributed` need a `container`, `subprocess` needs a non-empty `command`. An executor
none of them would accept is refused here: stored, it would reach every client as a value
its models cannot hold (the official client then warns on each listing). Values pydantic
would coerce (a whole number sent as "3") are stored as pydantic would read them; keys no
model names are refused (upstream drops them silently). tests/test_executors.py compares
every case with upstream's own models.
"""

import re

from marshmallow import ValidationError, fields, validate

from .fields import Body

PROVIDER_TAG = ("Input tag '{tag}' found using 'provider' does not match any of the expected "
                "tags: 'cpu', 'gpu', 'gpu_distributed', 'subprocess'")
SHM_EMPTY = "shm_size cannot be empty or whitespace-only"
SHM_SUFFIX = ("shm_size must use a megabyte/gigabyte-scale suffix: Mi, Gi, M, or G "
              "(e.g. '1Gi', '512Mi', '2G').")
_SHM = re.compile(r"^([+-]?(?:\d+|\d*\.\d+)(?:[eE][+-]?\d+)?)(Mi|Gi|M|G)$")
SHM_PATTERN = r"^\s*[+-]?(?:\d+|\d*\.\d+)(?:[eE][+-]?\d+)?(?:Mi|Gi|M|G)\s*$"  # as documented
# pydantic's lax reading of an integer from text: sign, digits (with '_'), an empty fraction.
INT_TEXT_PATTERN = r"^\s*([+-]?\d+(?:_\d+)*)(?:\.0*)?\s*$"
POSITIVE_INT_TEXT_PATTERN = r"^\s*\+?(?=[\d_]*[1-9])\d+(?:_\d+)*(?:\.0*)?\s*$"
_INT_TEXT = re.compile(INT_TEXT_PATTERN)


class LaxInteger(fields.Integer):
    """An int as pydantic reads one in lax mode: true/false, a whole float, or its text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        found = _INT_TEXT.match(value) if isinstance(value, str) else None
        if found is None:
            raise self.make_error("invalid")
        return int(found.group(1).replace("_", ""))


class ShmSize(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError(SHM_EMPTY)
        if not _SHM.fullmatch(text):
            raise ValidationError(SHM_SUFFIX)
        return text


def _strings(**kwargs):
    return fields.List(fields.String(), **kwargs)


class ContainerSpecSchema(Body):
    image = fields.String(allow_none=True, validate=validate.Length(
        min=1, error="String should have at least 1 character"))
    entrypoint = _strings()
    command = _strings()


class ComputeResourceSpecSchema(Body):
    cpu = fields.String(allow_none=True)
    memory = fields.String(allow_none=True)


class ComputeResourcesSchema(Body):
    requests = fields.Nested(ComputeResourceSpecSchema)
    limits = fields.Nested(ComputeResourceSpecSchema)
    num_nodes = LaxInteger(validate=validate.Range(min=1))
    num_gpus = LaxInteger(allow_none=True)
    shm_size = ShmSize(allow_none=True, metadata={"pattern": SHM_PATTERN})


class ContainerExecutorSchema(Body):
    """upstream's CPU-, GPU- and DistributedGPUExecutionProvider (the same fields)."""

    provider = fields.String(required=True, metadata={"enum": ["cpu", "gpu", "gpu_distributed"]})
    profile = fields.String()
    container = fields.Nested(ContainerSpecSchema, required=True)
    resources = fields.Nested(ComputeResourcesSchema)


class SubprocessExecutorSchema(Body):
    provider = fields.String(required=True, metadata={"enum": ["subprocess"]})
    profile = fields.String()
    command = _strings(required=True, validate=validate.Length(
        min=1, error="subprocess execution requires command to be set"))


_container = ContainerExecutorSchema()
PROVIDERS = {"cpu": _container, "gpu": _container, "gpu_distributed": _container,
             "subprocess": SubprocessExecutorSchema()}


class Executor(fields.Field):
    """The executor object, loaded by the schema its `provider` names."""

    default_error_messages = {"type": "Not a valid mapping type.", "tag": PROVIDER_TAG}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise self.make_error("type")
        if "provider" not in value:
            raise ValidationError({"provider": [self.error_messages["required"]]})
        tag = value["provider"]
        schema = PROVIDERS.get(tag) if isinstance(tag, str) else None
        if schema is None:
            raise ValidationError({"provider": [PROVIDER_TAG.format(tag=tag)]})
        return schema.load(value)
