"""The README's tour, run as written: every command of its ```bash blocks, in order, in a sandbox.

Only three things are put in for the reader's placeholders: sample files under the names the
README uses (``photo.jpg``, ``a.jpg``, ``photos/``, ``clip.mp4``, …, made from the shared test
data), a free port instead of 8000, and the device token / admin password the reader would paste.
A command the tour cannot run (a camera, a live person, an hour-long benchmark) must be listed in
``NOT_RUN`` with the reason; any other command that fails, or that the README gains, fails this
test, so the README cannot drift from the product.

When the product has API keys (``facegate apikeys``), a key is created first and exported as
``FACEGATE_KEY`` for curl examples that send it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

NOT_RUN: dict[str, str] = {
    "./scripts/serve.sh": "installs into ./.venv and serves until stopped (tests/unit/test_serve_script.py)",
    "./scripts/test.sh": "runs the whole test suite",
    "facegate liveness check 0": "a live person following steps revealed one at a time "
        "(tests/unit/features/liveness/test_liveness_cli_live.py, tests/e2e/test_browser_web.py)",
    "facegate client --server http://127.0.0.1:8000 --source 0":
        "needs a camera and a display (tests/e2e/test_client_window.py)",
    "facegate people reembed": "needs FACEGATE_STORE_FACE_IMAGES=1 at enrolment and the dlib pack "
        "(tests/integration/test_face_images.py)",
    "facegate bench": "benchmarks take minutes to hours (docs/benchmarks.md has their figures)",
    "facegate train spoof": "trains for ~15 minutes (tests/unit/research/training/test_spoof_cnn.py "
        "trains a tiny one)",
    "pip install": "installs packages (the train extra: tests/integration/test_training.py)",
    "facegate compare --model siamese:": "needs a trained model (tests/integration/test_training.py)",
    "facegate locker register": "reads a camera (tests/integration/test_locker_cli.py uses a video)",
    "facegate locker access": "a live person following random instructions "
        "(tests/e2e/test_locker_kiosk.py)",
    "facegate locker open": "needs the key that `locker access` issues",
    "facegate admin create bob": "promotes a web account made at /register "
        "(tests/integration/test_web_admin_cli.py)",
}

# what a command must print (stdout) besides exiting 0
EXPECT_OUT = {
    "facegate compare a.jpg b.jpg": "SAME",
    "facegate verify": "(threshold 0.325): granted",
    "facegate identify group.jpg": "face(s)",
    "facegate liveness check": "PASSED",
    "facegate devices add": "token",
    "curl -s localhost:8000/healthz": "ok",
    "curl -s -X POST localhost:8000/v1/liveness/sessions": "nonce",
    "tail data/access_log.txt": ",",
}
ADMIN_PASSWORD = "tour password 2026"

pytestmark = pytest.mark.slow  # ~2-4 minutes: ~30 CLI processes, a server, a 3 s stream


@dataclass
class Tour:
    root: Path
    env: dict[str, str]
    port: int
    server: subprocess.Popen[bytes] | None = None
    last_rc: int = 0
    exports: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)


def readme_commands(text: str) -> list[str]:
    """Every command line of the ```bash blocks (continuations joined, comment lines dropped)."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        pending = ""
        for raw in block.splitlines():
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def not_run_reason(command: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _short_clip(source: Path, out: Path, seconds: float = 3.0) -> None:
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    for _ in range(int(seconds * fps)):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    cap.release()
    assert writer is not None, f"cannot read {source}"
    writer.release()


def _nuaa_list(data: Path, name: str, out: Path, subjects: int = 6, per: int = 4) -> None:
    by_subject: dict[str, list[str]] = {}
    for line in (data / "nuaa" / name).read_text().split():
        by_subject.setdefault(line.split("/")[1], []).append(line)
    picked = [p for s in sorted(by_subject)[:subjects] for p in by_subject[s][:per]]
    out.write_text("".join(f"nuaa/{p}\n" for p in picked))


def _sandbox(root: Path, data: Path) -> None:
    """The files the README names, from the shared data; ``.venv`` is this checkout's."""
    lfw = data / "lfw" / "lfw-deepfunneled"
    scenes = data / "faces" / "scenes"
    links = {
        "photo.jpg": scenes / "obama_and_biden.jpg",
        "a.jpg": lfw / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg",
        "b.jpg": lfw / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg",
        "ada1.jpg": lfw / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg",
        "ada2.jpg": lfw / "Aaron_Peirsol" / "Aaron_Peirsol_0003.jpg",
        "probe.jpg": lfw / "Aaron_Peirsol" / "Aaron_Peirsol_0004.jpg",
        "group.jpg": scenes / "bbt1.jpg",
        "grace1.jpg": lfw / "Serena_Williams" / "Serena_Williams_0001.jpg",
        "grace2.jpg": lfw / "Serena_Williams" / "Serena_Williams_0002.jpg",
        "alice1.jpg": lfw / "Amelie_Mauresmo" / "Amelie_Mauresmo_0001.jpg",
        "alice2.jpg": lfw / "Amelie_Mauresmo" / "Amelie_Mauresmo_0002.jpg",
        "video.webm": data / "video" / "webcam_blink_turns.webm",
        "photos": data / "faces" / "people",
        "nuaa": data / "nuaa",
        ".venv": REPO / ".venv",
    }
    for name, target in links.items():
        assert target.exists(), target
        (root / name).symlink_to(target)
    _short_clip(data / "video" / "webcam_blink_turns.webm", root / "clip.mp4")
    _nuaa_list(data, "test_real.txt", root / "real.txt")
    _nuaa_list(data, "test_spoof.txt", root / "spoof.txt")


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEGATE_", "VIRTUAL_ENV"))}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO / "src")  # this checkout's code, whatever the venv installed
    env["FACEGATE_PRELOAD"] = "false"  # the server answers /healthz at once; models load lazily
    env["FACEGATE_WEB_COOKIE_SECURE"] = "0"
    env["HOME"] = str(root)
    return env


def _substitute(command: str, tour: Tour) -> str:
    out = re.sub(r"(localhost|127\.0\.0\.1|--port )(:?)8000\b", rf"\g<1>\g<2>{tour.port}", command)
    out = out.replace("--token TOKEN", '--token "$TOUR_DEVICE_TOKEN"')
    return out.replace("'…'", f"'{ADMIN_PASSWORD}'")


def _last_token(text: str) -> str:
    tokens = re.findall(r"[A-Za-z0-9_\-.~+/=]{20,}", text)
    assert tokens, f"no token in {text!r}"
    return tokens[-1]


def _start_server(tour: Tour, command: str) -> None:
    log = (tour.root / "server.log").open("wb")
    tour.server = subprocess.Popen(["bash", "-c", "exec " + command], cwd=tour.root, env=tour.env,
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert tour.server.poll() is None, (tour.root / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{tour.port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not answer /healthz within 120 s")


def _maybe_api_key(tour: Tour, commands: list[str]) -> None:
    """Products with API keys: create one (unless the README does) and export FACEGATE_KEY."""
    if any(c.startswith("facegate apikeys create") for c in commands):
        return
    if subprocess.run(["facegate", "apikeys", "--help"], cwd=tour.root, env=tour.env,
                      capture_output=True, check=False).returncode != 0:
        return
    for args in (["create", "readme-tour"], ["create"]):
        r = subprocess.run(["facegate", "apikeys", *args], cwd=tour.root, env=tour.env,
                           capture_output=True, text=True, check=False)
        if r.returncode == 0:
            tour.env["FACEGATE_KEY"] = _last_token(r.stdout)
            return
    raise AssertionError(f"facegate apikeys create failed: {r.stderr}")


def _run(tour: Tour, command: str) -> subprocess.CompletedProcess[str]:
    line = _substitute(command, tour)
    if line.startswith("facegate serve"):
        _start_server(tour, line)
        return subprocess.CompletedProcess(line, 0, "", "")
    prelude = "".join(f"{e}\n" for e in tour.exports)
    exported = re.match(r"export ([A-Za-z_][A-Za-z0-9_]*)=", line)
    if exported:  # evaluate once (it may create something) and keep the value, not the command
        script = f'{prelude}{line}\nprintf %s "${exported.group(1)}"\n'
        r = subprocess.run(["bash", "-c", script], cwd=tour.root, env=tour.env, capture_output=True,
                           text=True, timeout=300, check=False)
        tour.last_rc = r.returncode
        if r.returncode == 0:
            tour.env[exported.group(1)] = r.stdout
        return r
    script = f"{prelude}(exit {tour.last_rc})\n{line}\n"  # `echo $?` sees the previous command
    r = subprocess.run(["bash", "-c", script], cwd=tour.root, env=tour.env, capture_output=True,
                       text=True, timeout=300, check=False)
    tour.last_rc = r.returncode
    if line.startswith("export "):
        tour.exports.append(line)
    if command.startswith("facegate devices add") and r.returncode == 0:
        tour.env["TOUR_DEVICE_TOKEN"] = _last_token(r.stdout)
    if command.startswith("facegate apikeys create") and r.returncode == 0 \
            and not tour.env.get("FACEGATE_KEY"):
        tour.env["FACEGATE_KEY"] = _last_token(r.stdout)
    return r


@pytest.fixture
def tour(data_dir: Path, tmp_path: Path) -> Iterator[Tour]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    root = tmp_path / "tour"
    root.mkdir()
    _sandbox(root, data_dir)
    t = Tour(root, _env(root), _free_port())
    try:
        yield t
    finally:
        if t.server is not None:
            t.server.terminate()
            try:
                t.server.wait(20)
            except subprocess.TimeoutExpired:
                t.server.kill()


def test_readme_parses_into_the_tour() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) > 30
    assert "facegate compare a.jpg b.jpg" in " ".join(commands)
    for prefix in NOT_RUN:  # every exception still names a README command
        assert any(c.startswith(prefix) for c in commands), f"NOT_RUN lists {prefix!r}: gone"


def test_readme_tour_runs_as_written(tour: Tour) -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    _maybe_api_key(tour, commands)
    failures: list[str] = []
    for command in commands:
        if not_run_reason(command) is not None:
            continue
        r = _run(tour, command)
        tour.ran.append(command)
        out = r.stdout
        expected = next((v for k, v in EXPECT_OUT.items() if command.startswith(k)), None)
        if r.returncode != 0:
            failures.append(f"{command}\n  exit {r.returncode}: {r.stderr.strip()[-800:]}")
        elif expected is not None and expected not in out:
            failures.append(f"{command}\n  expected {expected!r} in: {out[-800:]}")
        elif command.startswith("curl") and '"error"' in out:
            failures.append(f"{command}\n  answered an error: {out[-800:]}")
        elif "Traceback" in r.stderr:
            failures.append(f"{command}\n  traceback: {r.stderr[-800:]}")
    assert not failures, "README commands that do not work as written:\n" + "\n".join(failures)
    assert tour.server is not None, "the README never starts the server its curl examples need"
    assert len(tour.ran) >= 25, tour.ran
    # the tour leaves what the README says it does
    assert (tour.root / "annotated.png").stat().st_size > 1000
    assert (tour.root / "annotated.mp4").stat().st_size > 1000
    assert (tour.root / "antispoof.npz").is_file()


if __name__ == "__main__":  # pragma: no cover - a quick listing: python tests/e2e/test_readme_tour.py
    for c in readme_commands(README.read_text(encoding="utf-8")):
        print(("SKIP  " if not_run_reason(c) else "RUN   ") + c, file=sys.stdout)
