"""What Fieldhub writes to disk is readable by its owner only, from the first byte (issue 15, finding 7).

The embedded database holds sessions and password hashes; it and its WAL were 0644, and the secret key
was 0644 until the Makefile's chmod. Each child process here starts with the usual umask 022, so that
only Fieldhub itself can make the modes tighter.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from firmware import services
from tests.subprocess_env import PRODUCTION_KEY, ROOT, clean_env

USUAL_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_fieldhub(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` after django.setup(), in a child process started with umask 022."""
    program = "import django\ndjango.setup()\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=clean_env(SECRET_KEY=PRODUCTION_KEY, **env),
        capture_output=True,
        text=True,
        timeout=60,
        umask=USUAL_UMASK,
    )


# Writes a row through Django and reports the modes while the connection is open (SQLite removes the WAL
# and SHM files when the last connection closes).
WRITE_AND_STAT = """
    import json, os, stat
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe (x integer)")
        cursor.execute("INSERT INTO probe VALUES (1)")
    name = connection.settings_dict["NAME"]
    paths = [os.path.dirname(name), name, name + "-wal", name + "-shm"]
    print(json.dumps({path: stat.S_IMODE(os.stat(path).st_mode) for path in paths}))
"""


@pytest.mark.parametrize("where", ["var", "DATABASE_URL"])
def test_it_creates_the_database_and_its_wal_for_the_owner_only(tmp_path: Path, where: str) -> None:
    var = tmp_path / "var"
    env = {"FIELDHUB_VAR_DIR": str(var)}
    if where == "DATABASE_URL":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere").chmod(0o755)
        env["DATABASE_URL"] = f"sqlite:///{tmp_path}/elsewhere/fieldhub.sqlite3"
    result = run_fieldhub(WRITE_AND_STAT, **env)
    assert result.returncode == 0, result.stderr
    modes = {Path(path).name: found for path, found in json.loads(result.stdout).items()}
    assert modes == {
        "var" if where == "var" else "elsewhere": 0o700 if where == "var" else 0o755,
        "fieldhub.sqlite3": 0o600,
        "fieldhub.sqlite3-wal": 0o600,
        "fieldhub.sqlite3-shm": 0o600,
    }
    assert mode(var) == 0o700
    assert mode(var / "static") == 0o700


def test_it_takes_an_existing_database_away_from_others(tmp_path: Path) -> None:
    """A database an earlier version made 0644 is made 0600 when it is opened, with a warning."""
    database = tmp_path / "old.sqlite3"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    result = run_fieldhub(WRITE_AND_STAT, FIELDHUB_VAR_DIR=str(tmp_path / "var"), DATABASE_URL=f"sqlite:///{database}")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout).values()) == {0o700, 0o600}  # tmp_path is pytest's, 0700
    assert f"{database} could be read by others (mode 644): now by its owner only (600)" in result.stderr


def test_a_file_is_owner_only_while_it_is_written(tmp_path: Path) -> None:
    """Django opens a new upload with 0666 less the umask and applies FILE_UPLOAD_PERMISSIONS only once it
    is written: the process' umask keeps it owner-only meanwhile."""
    result = run_fieldhub(
        """
        import os, stat
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        class Spy(ContentFile):
            def chunks(self, chunk_size=None):
                yield b"first half"
                print(oct(stat.S_IMODE(os.stat(default_storage.path("firmware/spy.bin")).st_mode)))
                yield b"second half"

        default_storage.save("firmware/spy.bin", Spy(b""))
        """,
        FIELDHUB_VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0o600"


def test_uploaded_firmware_is_owner_only(admin_user: Any, settings: Any) -> None:
    image = services.firmware_upload(
        actor=admin_user, version="1.0.0", upload=SimpleUploadedFile("fw.bin", b"\x7fELF image")
    )
    stored = Path(image.file.path)
    assert mode(stored) == 0o600
    assert mode(stored.parent) == 0o700  # MEDIA_ROOT/firmware
    assert mode(Path(settings.MEDIA_ROOT)) == 0o700


SPY = """#!{python}
import os, stat, sys
# The recipe's python writes the key to its standard output: how readable is that file as it is written?
with open(os.environ["SPY_REPORT"], "w") as report:
    report.write(oct(stat.S_IMODE(os.fstat(1).st_mode)) + " " + oct(stat.S_IMODE(os.stat("var").st_mode)))
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def test_make_writes_the_secret_key_for_the_owner_only_from_the_first_byte(tmp_path: Path) -> None:
    spy = tmp_path / "python"
    spy.write_text(SPY.format(python=sys.executable))
    spy.chmod(0o700)
    report = tmp_path / "report"
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    result = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "var/secret_key", f"PYTHON={spy}"],
        cwd=workdir,
        env={**os.environ, "SPY_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=60,
        umask=USUAL_UMASK,
    )
    assert result.returncode == 0, result.stderr
    assert report.read_text() == "0o600 0o700"  # the key file as it was written, and var/
    key = workdir / "var" / "secret_key"
    assert mode(key) == 0o600
    assert len(key.read_text().strip()) >= 50
    assert sorted(path.name for path in key.parent.iterdir()) == ["secret_key"]
