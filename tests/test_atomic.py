"""Nothing lost (issue 8): a process killed mid-write leaves the previous file intact; `-o` never
overwrites an input; a missing folder or a read-only place gives exit 2 and a clear message;
links and special files are written through, never replaced.

The kill tests run a real process and SIGKILL it at a hooked point of the write: half the text
written to the temporary file, after the fsync, and just before the rename.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, run_cli

from advisor.errors import OutputError
from advisor.output import write_atomic

_TEMP = re.compile(r"\..*\.advisor-tmp-\d+-[0-9a-f]{8}", re.DOTALL)
PREVIOUS = "<!DOCTYPE html><p>the previous report, which must survive</p>\n"
GOOD = "name: t\ndata: {paired_examples: 1000}\nlatency: {budget_ms: 300}\n"

# Runs in the child: hook one step of the write, announce it, then wait to be killed.
HOOK = textwrap.dedent("""
    import os, sys, time
    stage = sys.argv[1]

    def announce_and_wait():
        print("READY", flush=True)
        time.sleep(120)

    if stage == "write":
        real_fdopen = os.fdopen

        class HalfThenWait:
            def __init__(self, fh):
                self.fh = fh
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return self.fh.__exit__(*exc)
            def write(self, text):
                self.fh.write(text[: len(text) // 2])
                self.fh.flush()
                announce_and_wait()
            def __getattr__(self, name):
                return getattr(self.fh, name)

        os.fdopen = lambda *a, **k: HalfThenWait(real_fdopen(*a, **k))
    elif stage == "fsync":
        real_fsync = os.fsync
        def fsync_then_wait(fd):
            real_fsync(fd)
            announce_and_wait()
        os.fsync = fsync_then_wait
    elif stage == "rename":
        os.replace = lambda *a, **k: announce_and_wait()
    sys.argv = ["advisor", *sys.argv[2:]]
    from advisor.cli import main
    main(sys.argv[1:])
""")


def _kill_at(stage: str, args: list[str], cwd: Path) -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    with subprocess.Popen([sys.executable, "-c", HOOK, stage, *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        try:
            line = p.stdout.readline()  # blocks until the hook is reached (or the child ends)
            if line.strip() != "READY":
                p.wait(timeout=30)
                pytest.fail(f"the write never reached the hook: {line!r} {p.stderr.read()}")
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p.returncode == -signal.SIGKILL


@pytest.mark.parametrize("stage", ["write", "fsync", "rename"])
def test_report_killed_mid_write_leaves_the_previous_file(stage, tmp_path):
    report = tmp_path / "report.html"
    report.write_text(PREVIOUS)
    _kill_at(stage, ["recommend", str(EXAMPLES[0]), "-o", str(report), "--no-explain"], tmp_path)
    assert report.read_text() == PREVIOUS
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("report.html",)]
    assert len(leftovers) == 1 and _TEMP.fullmatch(leftovers[0]), leftovers
    assert leftovers[0].startswith(".report.html.advisor-tmp-")
    # The next run replaces it whole and sweeps the killed run's temporary file.
    r = _run(["recommend", str(EXAMPLES[0]), "-o", str(report), "--no-explain"])
    assert r[0] == 0, r
    assert report.read_text().startswith("<!DOCTYPE html>") and report.read_text() != PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("stage", ["write", "fsync", "rename"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_batch_killed_mid_write_then_rerun_leaves_no_temporary(stage, suffix, tmp_path):
    """SIGKILL trials: a batch killed while writing its results (half a line written, after
    the fsync, before the rename) leaves the previous results intact; the next batch into
    the same folder replaces them whole and sweeps the killed one's temporary file."""
    work = tmp_path / "work"
    work.mkdir()
    src = tmp_path / "p.csv"
    src.write_text("name,data.paired_examples,latency.budget_ms\n" +
                   "".join(f"p{i},{1000 + i},{100 + i}\n" for i in range(50)))
    out = work / f"results{suffix}"
    out.write_text("previous\n")
    _kill_at(stage, ["batch", str(src), "-o", str(out)], tmp_path)
    assert out.read_text() == "previous\n"
    left = [p.name for p in work.iterdir() if p != out]
    assert len(left) == 1 and _TEMP.fullmatch(left[0]), left
    code, _, err = _run(["batch", str(src), "-o", str(out)])
    assert code == 0, err
    assert sorted(p.name for p in work.iterdir()) == [out.name]
    lines = out.read_text().splitlines()
    assert len(lines) == (51 if suffix == ".csv" else 50)
    if suffix == ".jsonl":
        assert all(json.loads(line)["status"] == "ok" for line in lines)


def _run(args: list[str]) -> tuple[int, str, str]:
    r = run_cli(args)
    return r.exit_code, r.stdout, r.stderr


# ---------------------------------------------------------------------------------------------
# -o never overwrites the input


def test_output_never_overwrites_the_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.yaml"
    src.write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.yaml").symlink_to(src)
    for target in (str(src), "in.yaml", "./in.yaml", "sub/../in.yaml", "link.yaml"):
        code, out, err = _run(["recommend", "in.yaml", "-o", target, "--format", "json"])
        assert code == 2, (target, err)
        assert err == f"error: {Path(target)}: refusing to overwrite the input file\n"
        assert src.read_text() == GOOD
    # Through a symbolic link as the input too.
    code, _, err = _run(["recommend", "link.yaml", "-o", "in.yaml"])
    assert code == 2 and "refusing to overwrite the input file" in err


def test_batch_output_never_overwrites_the_input(tmp_path):
    pytest.importorskip("advisor.batch", reason="advisor batch is not available")
    src = tmp_path / "p.csv"
    text = "name,data.paired_examples,latency.budget_ms\nx,1000,300\n"
    src.write_text(text)
    for args in (["-o", str(src)], ["-o", str(tmp_path / "o.jsonl"), "--report", str(src)]):
        code, _, err = _run(["batch", str(src), *args])
        assert code == 2 and "refusing to overwrite the input file" in err, err
        assert src.read_text() == text


# ---------------------------------------------------------------------------------------------
# Missing folders and read-only places: exit 2, one clear line


def test_missing_folder(tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "r.html"
    code, out, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(target), "--no-explain"])
    assert code == 2 and out == ""
    assert err == f"error: {target}: folder {target.parent} does not exist\n"


def test_output_is_a_folder(tmp_path):
    code, _, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(tmp_path), "--no-explain"])
    assert code == 2 and err == f"error: {tmp_path}: is a folder; give a file name\n"


def _read_only_folder(tmp_path: Path) -> Path:
    """Give a folder this process cannot create files in, or skip saying why."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        return folder
    # Root ignores permission bits; sysfs refuses new files even to root.
    sys_dir = Path("/sys")
    if sys_dir.is_dir() and not os.access(sys_dir, os.W_OK):
        return sys_dir
    try:
        (sys_dir / ".advisor-probe").touch()
    except OSError:
        return sys_dir
    (sys_dir / ".advisor-probe").unlink()
    pytest.skip("running as root with no read-only folder to write into (no sysfs)")


def test_read_only_place(tmp_path):
    folder = _read_only_folder(tmp_path)
    target = folder / "advisor-report.html"
    try:
        code, out, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(target), "--no-explain"])
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(stat.S_IRWXU)
    assert code == 2 and out == "", err
    assert err.startswith(f"error: {target}: ") and err.count("\n") == 1, err
    assert "permission denied" in err or "cannot write" in err, err
    assert not target.exists()


def test_read_only_place_simulated(tmp_path, monkeypatch):
    # The same refusal wherever the tests run (root included): the folder refuses new files.
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    target = tmp_path / "r.html"
    code, _, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(target), "--no-explain"])
    assert code == 2
    assert err == f"error: {target}: permission denied (folder {tmp_path} is not writable)\n"


def test_disk_full_discards_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("previous\n")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="No space left on device"):
        write_atomic(target, "new\n")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ---------------------------------------------------------------------------------------------
# Links and special files: written through, never replaced


def test_symlink_target_is_followed(tmp_path):
    real = tmp_path / "real.html"
    real.write_text(PREVIOUS)
    link = tmp_path / "link.html"
    link.symlink_to(real)
    write_atomic(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


def test_special_files_are_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_atomic(fifo, "through the pipe\n")
    assert reader.communicate(timeout=10)[0] == b"through the pipe\n"
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    if os.geteuid() == 0:  # as root, a device node in a temporary folder stands for /dev/null
        null = tmp_path / "null"
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        code, _, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(null), "--no-explain",
                             "--format", "json"])
        assert code == 0, err
        assert stat.S_ISCHR(null.stat().st_mode)  # still the device, not a regular file


def test_dev_null_as_output():
    if os.geteuid() == 0:
        pytest.skip("as root, the device node above stands in for /dev/null: were the fix to "
                    "regress, writing the real one would replace it for the whole machine")
    code, out, err = _run(["recommend", str(EXAMPLES[0]), "-o", "/dev/null", "--no-explain",
                           "--format", "json"])
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


del ROOT


def test_batch_output_follows_links_and_writes_into_special_files(tmp_path):
    pytest.importorskip("advisor.batch", reason="advisor batch is not available")
    src = tmp_path / "p.csv"
    src.write_text("name,data.paired_examples,latency.budget_ms\nx,1000,300\n")
    real = tmp_path / "real.jsonl"
    real.write_text("previous\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    code, _, err = _run(["batch", str(src), "-o", str(link)])
    assert code == 0, err
    assert link.is_symlink() and json.loads(real.read_text())["status"] == "ok"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    code, _, err = _run(["batch", str(src), "-o", str(fifo)])
    assert code == 0, err
    assert json.loads(reader.communicate(timeout=30)[0])["status"] == "ok"
    assert stat.S_ISFIFO(fifo.stat().st_mode)
