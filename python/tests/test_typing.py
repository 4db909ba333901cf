"""The package's types as an app sees them: mypy --strict accepts an app
written against them (``typed_app.py``), and refuses one that passes the
wrong context to ``build_event``."""

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def mypy(*paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir=/dev/null", *paths],
        capture_output=True, text=True, cwd=HERE,
    )


def test_an_app_using_the_package_type_checks():
    checked = mypy("typed_app.py")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_wrong_context_for_a_kind_is_a_type_error(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from autotrainer_rs.api.event import ApiEventKind, build_event\n"
        "from autotrainer_rs.api.event import api_event_payloads as p\n"
        "build_event(ApiEventKind.emergencyStop, p.VersionContext(version='1'))\n"
    )
    checked = mypy(str(wrong))
    assert checked.returncode == 1 and "build_event" in checked.stdout, checked.stdout
