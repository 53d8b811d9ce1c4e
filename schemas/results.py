"""Results (request and answers), and the one grammar of artifact URLs.

An artifact URL is `fileset://{workspace}/{fileset}/{path}`. The path is taken literally,
never percent-decoded: each `/`-separated segment is 1-255 of `A-Za-z0-9._+=@,~-` and is not
`.` or `..`. So `..`, encoded dots (`%2e%2e`, `%252e`), absolute paths, backslashes, NUL and
other control characters can never be spelled; the download checks the URL again, and checks
where symbolic links lead (app/artifacts.py).
"""

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .fields import Body, stamps

STORAGE_TYPES = ["fileset"]
RESULT_SORTS = ["created_at", "-created_at", "updated_at", "-updated_at"]
MAX_URL = 4096
# Upstream's name rule, kept inside one `/`-separated part of the URL.
_NAME = r"[a-z](?![^/]*--)[a-z0-9\-@.+_]{1,62}(?<!-)"
_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._+=@,~\-]{1,255}"
ARTIFACT_URL_PATTERN = rf"^fileset://({_NAME})/({_NAME})/({_SEGMENT}(?:/{_SEGMENT})*)$"
_ARTIFACT_URL = re.compile(ARTIFACT_URL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_artifact_url(url: str) -> tuple[str, str, list[str]]:
    """(workspace, fileset, path segments); ValueError saying what is wrong otherwise."""
    found = _ARTIFACT_URL.fullmatch(url) if len(url) <= MAX_URL else None
    if found:
        return found.group(1), found.group(2), found.group(3).split("/")
    reason = (
        f"it is longer than {MAX_URL} characters" if len(url) > MAX_URL else
        "it must start with 'fileset://'" if not url.startswith("fileset://") else
        "percent-encoding is not accepted" if "%" in url else
        "backslashes are not accepted" if "\\" in url else
        "control characters (NUL included) are not accepted" if _CONTROL.search(url) else
        "'.' and '..' segments are not accepted" if re.search(r"/\.\.?(?:/|$)", url) else
        "it names no workspace, fileset and path, or has an empty segment (an absolute path?)"
        if len(url[len("fileset://"):].split("/")) < 3 or "" in url[len("fileset://"):].split("/")
        else
        "the workspace or fileset breaks the name pattern, or a path segment uses a character "
        "other than letters, digits and '._+=@,~-'")
    raise ValueError(
        f"artifact_url must be fileset://{{workspace}}/{{fileset}}/{{path}}: {reason}.")


class ArtifactUrl(fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})["pattern"] = ARTIFACT_URL_PATTERN
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parse_artifact_url(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return text


class ResultCreateSchema(Body):
    artifact_storage_type = fields.String(required=True, validate=validate.OneOf(STORAGE_TYPES))
    artifact_url = ArtifactUrl(required=True)


class ResultSchema(Schema):
    name = fields.String()
    job = fields.String()
    workspace = fields.String()
    project = fields.String()
    artifact_storage_type = fields.String()
    artifact_url = fields.String()
    download_url = fields.String()
    created_at, updated_at = stamps(by=False)


class ResultListSchema(Schema):
    data = fields.List(fields.Nested(ResultSchema))


class ResultListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sort = fields.String(load_default="-created_at", validate=validate.OneOf(RESULT_SORTS))
