"""gzip for JSON answers over 1 KiB, by Flask-Compress, when the client accepts it.

Only gzip: every HTTP client has it (brotli and zstd save a little more on JSON, but the
official client's httpx decodes them only with extra packages). Never a stream (the change
feed's text/event-stream goes out frame by frame) and never a 304 (it has no body).

The ETag stays as the view set it. Flask-Compress appends `:gzip` to a strong tag, so a
client that got `"3:gzip"` would send it back in If-Match and be refused, and one that sent
If-None-Match `"3"` would never match: the tag names the JSON as decoded, the answer says
`Vary: Accept-Encoding`, and no byte ranges are served, so no bytes of two codings are ever
combined under one tag.
"""

from flask_compress import Compress

SETTINGS = {
    "COMPRESS_ALGORITHM": ["gzip"],
    "COMPRESS_MIMETYPES": ["application/json"],
    "COMPRESS_MIN_SIZE": 1025,  # over 1 KiB; a task's answer (~600 bytes) goes as it is
    # Level 1: a 45 MB list of 100,000 tasks in 0.36 s (level 6: 0.86 s), to 1.1 MB (0.9).
    "COMPRESS_LEVEL": 1,
    "COMPRESS_STREAMS": False,
    # Our views answer If-None-Match themselves; werkzeug's make_conditional would also
    # answer If-Match and Range on a read, which the API does not (docs/api.md).
    "COMPRESS_EVALUATE_CONDITIONAL_REQUEST": False,
}


class _KeepingTags(Compress):
    def after_request(self, response):
        tag = response.headers.get("ETag")
        response = super().after_request(response)
        if tag is not None:
            response.headers["ETag"] = tag
        return response


def init_app(app) -> None:
    for key, value in SETTINGS.items():
        app.config[key] = value
    _KeepingTags(app)
