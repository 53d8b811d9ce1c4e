"""The README's curl tour and its `nemo` example run start to finish, as printed, against a
real gunicorn, and print what the README says they print.

What the README shows as an answer: a comment line right under a command, and the lines of
a plain (language-less) code block. Ids and creation/update times differ from run to run,
so both sides have them replaced before comparing; everything else must match exactly.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .needs import unavailable
from .server import ROOT, running

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text()
VENV = Path(sys.executable).parent.parent
README_SERVER = "http://127.0.0.1:8000"  # where the README's commands expect the service
VARYING = [
    (r"\b(job|step|task|attempt)-[0-9a-f]{32}\b", r"\1-<id>"),
    (r'("(?:created|updated)_at":")[^"]+"', r'\1<time>"'),
]


def section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert found, f"the README lacks its {title!r} section"
    return found.group(1)


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced code block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)


def shown_answers(text: str) -> list[str]:
    answers = []
    for language, body in blocks(text):
        lines = body.splitlines()
        if language == "sh":
            answers += [line[2:] for before, line in zip([""] + lines, lines)
                        if line.startswith("# ") and before and not before.startswith("#")]
        elif language == "":
            answers += [line for line in lines if line]
    return answers


def normalised(text: str) -> str:
    for pattern, replacement in VARYING:
        text = re.sub(pattern, replacement, text)
    return text.replace("\r\n", "\n")


def test_shown_answers_are_found_by_their_rule():
    text = ("```sh\n# an explanation\ncurl x\n# {\"a\":1}\n\n# another\n```\n"
            "```\nHTTP/1.1 200\n\nbody\n```\n")
    assert shown_answers(text) == ['{"a":1}', "HTTP/1.1 200", "body"]


def test_the_readme_tour_runs_as_printed(tmp_path):
    nemo = VENV / "bin" / "nemo"
    if not nemo.exists():
        unavailable("the nemo command is not installed (see the README's test command)")
    tour = section("Try it with curl")
    script = "\n".join(body for language, body in blocks(tour) if language == "sh")
    assert "curl " in script and "nemo jobs" in script

    # The tour runs in the folder the service was started from: `.venv` and `artifacts`
    # there are the service's own.
    (tmp_path / ".venv").symlink_to(VENV)
    (tmp_path / "home").mkdir()
    env = {"JOBS_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    with running(tmp_path / "jobs.db", tmp_path / "gunicorn.log", workers=2, env=env) as server:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script.replace(README_SERVER, server.url)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("NMP_")},
                 "HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200"})
        assert done.returncode == 0, (done.stdout, done.stderr)
        job = requests.get(f"{server.url}/apis/jobs/v2/workspaces/team-a/jobs/train-llm").json()
    assert "Traceback" not in server.log()

    printed, position = normalised(done.stdout), 0
    for answer in shown_answers(tour):
        found = re.compile(re.escape(normalised(answer))).search(printed, position)
        assert found, f"the README shows {answer!r}, the tour printed (from there on):\n" \
                      f"{printed[position:]}"
        position = found.end()
    assert job["status"] == "active"
    artifact = tmp_path / "artifacts" / "team-a" / "train-llm" / "model" / "weights.bin"
    assert (tmp_path / "weights.bin").read_bytes() == artifact.read_bytes()
