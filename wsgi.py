"""The WSGI entry point: `gunicorn wsgi:app` (settings in gunicorn.conf.py), and the app
`flask --app wsgi <command>` works on."""

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # A bad setting is one line naming it, for every command, not a traceback.
    raise SystemExit(f"cannot start: {exc}") from None
