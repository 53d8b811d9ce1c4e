"""The import layers (setup.cfg's [importlinter] contracts) hold, and breaking one is caught.

`lint-imports` runs as CI would run it; the same check on a copy of the code with one bad
import added shows that it fails when it should.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("app", "schemas", "statemachine")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_every_import_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module,line,broken", [
    ("app/store/rows.py", "import flask", "The store, the backends and the domain errors"),
    ("app/db/sqlite/connection.py", "from werkzeug import exceptions", "The store, the backends"),
    ("statemachine/__init__.py", "import schemas", "statemachine (the table of moves)"),
    ("schemas/__init__.py", "from app import errors", "schemas (the bodies)"),
    ("app/auth.py", "from . import metrics", "What gunicorn's master imports"),
    ("app/errors.py", "from . import answers", "No import cycles"),  # answers imports errors
    ("app/store/rows.py", "from . import jobs", "No import cycles"),  # jobs imports rows
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken}" in result.stdout.split("Broken contracts")[-1], result.stdout


def test_the_store_imports_without_flask():
    """A script may use the store and the backends with no web side loaded at all."""
    code = ("import sys, app.store, app.db, app.errors, app.signals; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout
