"""Nothing lost (issue 8): a process killed mid-write leaves the previous file intact; `-o` never
overwrites an input; missing folders are created; a read-only place gives exit 2 and a clear
message;
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
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, run_cli

from advisor._errors import OutputError
from advisor._output import write_atomic

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
    from advisor._cli.main import main
    main(sys.argv[1:])
""")


def _kill_at(stage: str, args: list[str], cwd: Path) -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    with subprocess.Popen(
        [sys.executable, "-c", HOOK, stage, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as p:
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
    src.write_text(
        "name,data.paired_examples,latency.budget_ms\n"
        + "".join(f"p{i},{1000 + i},{100 + i}\n" for i in range(50))
    )
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
    code, _, err = _run(["recommend", "link.yaml", "-o", "in.yaml", "--format", "json"])
    assert code == 2 and "refusing to overwrite the input file" in err


def test_batch_output_never_overwrites_the_input(tmp_path):
    pytest.importorskip("advisor._batch", reason="advisor batch is not available")
    src = tmp_path / "p.csv"
    text = "name,data.paired_examples,latency.budget_ms\nx,1000,300\n"
    src.write_text(text)
    os.link(src, tmp_path / "report.html")  # a report name that is the input under another
    for args in (
        ["-o", str(src)],
        ["-o", str(tmp_path / "o.jsonl"), "--report", str(tmp_path / "report.html")],
    ):
        code, _, err = _run(["batch", str(src), *args])
        assert code == 2 and "refusing to overwrite the input file" in err, err
        assert src.read_text() == text


# ---------------------------------------------------------------------------------------------
# Missing folders are created; read-only places: exit 2, one clear line


def test_missing_folders_are_created(tmp_path):
    target = tmp_path / "no" / "such" / "folder" / "r.html"
    code, out, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(target), "--no-explain"])
    assert code == 0 and out == "", err
    assert target.read_text().startswith("<!DOCTYPE html>")


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
        code, _, err = _run(
            ["recommend", str(EXAMPLES[0]), "-o", str(null), "--no-explain", "--format", "json"]
        )
        assert code == 0, err
        assert stat.S_ISCHR(null.stat().st_mode)  # still the device, not a regular file


def test_dev_null_as_output():
    if os.geteuid() == 0:
        pytest.skip(
            "as root, the device node above stands in for /dev/null: were the fix to "
            "regress, writing the real one would replace it for the whole machine"
        )
    code, out, err = _run(
        ["recommend", str(EXAMPLES[0]), "-o", "/dev/null", "--no-explain", "--format", "json"]
    )
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


del ROOT


def test_batch_output_follows_links_and_writes_into_special_files(tmp_path):
    pytest.importorskip("advisor._batch", reason="advisor batch is not available")
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


# ---------------------------------------------------------------------------------------------
# Issue 15: the input is compared by device and inode, also through descriptor paths and links

DESCRIPTOR_PATHS = [p for p in ("/dev/stdin", "/proc/self/fd/0", "/dev/fd/0") if os.path.exists(p)]


def _advisor(args: list[str], stdin_path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the advisor in a real process with stdin opened on a file (not a pipe)."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    with stdin_path.open("rb") as fh:
        return subprocess.run(
            [sys.executable, "-m", "advisor", *args],
            stdin=fh,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.mark.skipif(not DESCRIPTOR_PATHS, reason="no /dev/stdin or /proc/self/fd here")
@pytest.mark.parametrize("target", DESCRIPTOR_PATHS)
def test_descriptor_paths_never_overwrite_stdin(target, tmp_path):
    src = tmp_path / "in.yaml"
    src.write_text(GOOD)
    r = _advisor(
        ["recommend", "-", "-o", target, "--no-explain", "--format", "json"], src, tmp_path
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"error: {target}: refusing to overwrite the input file\n"
    assert src.read_text() == GOOD
    rows = tmp_path / "in.jsonl"
    text = '{"name": "x", "data": {"paired_examples": 1000}, "latency": {"budget_ms": 300}}\n'
    rows.write_text(text)
    # (--report takes only a .html name, so a descriptor path is refused there already.)
    for args in (["-o", target, "--format", "jsonl"],):
        r = _advisor(["batch", "-", *args], rows, tmp_path)
        assert r.returncode == 2, r.stderr
        assert f"error: {target}: refusing to overwrite the input file" in r.stderr
        assert rows.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "in.yaml"]


def test_stdin_as_input_and_stdout_as_output_still_work(tmp_path):
    # Not an input: /dev/stdout redirected to another file is written (a terminal or
    # /dev/null as both is fine too: writing a character device destroys nothing).
    src = tmp_path / "in.yaml"
    src.write_text(GOOD)
    out = tmp_path / "out.json"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    with src.open("rb") as fin, out.open("wb") as fout:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "advisor",
                "recommend",
                "-",
                "-o",
                "/dev/stdout",
                "--no-explain",
                "--format",
                "json",
            ],
            stdin=fin,
            stdout=fout,
            stderr=subprocess.PIPE,
            env=env,
            timeout=300,
        )
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["name"] == "t"


def test_hard_and_symbolic_links_to_any_input_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.yaml"
    src.write_text(GOOD)
    os.link(src, tmp_path / "hard.json")
    (tmp_path / "soft.json").symlink_to("hard.json")
    rules = tmp_path / "rules"
    rules.mkdir()
    pack = "name: mine\nversion: '1'\nextends: default\n"
    (rules / "pack.yaml").write_text(pack)
    os.link(rules / "pack.yaml", tmp_path / "pack-link.json")
    (tmp_path / "labelled.yaml").write_text("labelled: []\n")
    os.link(tmp_path / "labelled.yaml", tmp_path / "labelled-link.json")
    cases = [
        ["rules", "backtest", "labelled.yaml", "-o", "labelled-link.json"],
        ["recommend", "in.yaml", "-o", "hard.json"],
        ["recommend", "in.yaml", "-o", "soft.json"],
        ["recommend", "in.yaml", "-o", "pack-link.json", "--rules", "rules"],
        ["recommend", "in.yaml", "-o", "rules/pack.yaml", "--rules", "rules", "--format", "json"],
        ["compare", "in.yaml", str(EXAMPLES[0]), "-o", "hard.json"],
        ["compare", str(EXAMPLES[0]), "in.yaml", "-o", "soft.json"],
        ["ask", "-o", "pack-link.json", "--rules", "rules"],
        ["ask", "--answers", "pack-link.json", "--rules", "rules"],
    ]
    for args in cases:
        r = run_cli(args, env={"ADVISOR_ASK_INTERACTIVE": "0"})
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.endswith(": refusing to overwrite the input file\n"), (args, r.stderr)
        assert r.stderr.count("\n") == 1, r.stderr
    r = run_cli(["ask", "--answers", "in.yaml", "-o", "hard.json"])
    assert r.stderr == (
        "error: hard.json: the report and the answers file must be different files\n"
    )
    assert src.read_text() == GOOD and (rules / "pack.yaml").read_text() == pack


def test_batch_folder_and_probe_inputs_are_refused_before_any_work(tmp_path):
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "a.yaml").write_text(GOOD)
    os.link(folder / "a.yaml", tmp_path / "a-link.jsonl")
    r = run_cli(["batch", str(folder), "-o", str(tmp_path / "a-link.jsonl")])
    assert r.exit_code == 2 and "refusing to overwrite the input file" in r.stderr, r.output
    assert (folder / "a.yaml").read_text() == GOOD
    data = tmp_path / "d.csv"
    data.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(60)))
    os.link(data, tmp_path / "probe.json")
    r = run_cli(["probe", str(data), "--target", "y", "-o", str(tmp_path / "probe.json"), "-q"])
    assert r.exit_code == 2 and "refusing to overwrite the input file" in r.stderr, r.output
    assert "[" not in r.stderr  # refused before training: no progress line


# ---------------------------------------------------------------------------------------------
# Names: a valid 255-byte name works; a longer one is exit 2 with one line


@pytest.mark.parametrize("name", ["a" * 250 + ".json", "é" * 124 + "xy.json", "x" * 255])
def test_a_255_byte_output_name_works(name, tmp_path):
    assert len(os.fsencode(name)) <= 255
    target = tmp_path / name
    code, _, err = _run(
        ["recommend", str(EXAMPLES[0]), "-o", str(target), "--no-explain", "--format", "json"]
    )
    assert code == 0, err
    assert json.loads(target.read_text())["recommendation"]
    src = tmp_path / "p.csv"
    src.write_text("name,data.paired_examples,latency.budget_ms\nx,1000,300\n")
    code, _, err = _run(["batch", str(src), "-o", str(target), "--format", "jsonl"])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "p.csv"])


def test_a_300_byte_output_name_is_exit_2(tmp_path):
    target = tmp_path / ("a" * 295 + ".json")
    src = tmp_path / "p.csv"
    src.write_text("name,data.paired_examples,latency.budget_ms\nx,1000,300\n")
    for args in (["recommend", str(EXAMPLES[0]), "--no-explain"], ["batch", str(src)]):
        code, out, err = _run([*args, "-o", str(target)])
        assert code == 2, err
        # One line naming the target and saying why (the wording depends on which check of
        # the path meets it first: the parent-folder creation or the writer's own).
        assert err.startswith(f"error: {target}: ") and err.count("\n") == 1, err
        assert "too long" in err, err
    long_input = tmp_path / ("b" * 296 + ".csv")
    for command, out_name in (("batch", "o.jsonl"), ("recommend", "o.json")):
        code, _, err = _run([command, str(long_input), "-o", str(tmp_path / out_name)])
        assert code == 2 and err == f"error: {long_input}: cannot be read (File name too long)\n"


# ---------------------------------------------------------------------------------------------
# Dangling links: written through when the target's folder exists, else a clear line


def test_dangling_symlink_gets_its_target_written(tmp_path):
    link = tmp_path / "report.json"
    link.symlink_to("made/later.json")
    (tmp_path / "made").mkdir()
    code, _, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(link), "--no-explain"])
    assert code == 0, err
    assert link.is_symlink() and json.loads((tmp_path / "made" / "later.json").read_text())


def test_dangling_symlink_into_a_missing_folder_says_so(tmp_path):
    link = tmp_path / "report.json"
    link.symlink_to("nowhere/x.json")
    code, _, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(link), "--no-explain"])
    assert code == 2
    assert err == (
        f"error: {link}: is a symbolic link to {tmp_path / 'nowhere' / 'x.json'}, "
        f"whose folder {tmp_path / 'nowhere'} does not exist\n"
    )
    loop = tmp_path / "loop.json"
    loop.symlink_to("loop.json")
    code, _, err = _run(["recommend", str(EXAMPLES[0]), "-o", str(loop), "--no-explain"])
    assert code == 2 and err == f"error: {loop}: too many levels of symbolic links\n"


# ---------------------------------------------------------------------------------------------
# Stale temporaries: only ours, only unlocked, only when the writer is gone


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _temp(folder: Path, pid: int, name: str = "r.json", rand: str = "0123abcd") -> Path:
    path = folder / f".{name}.advisor-tmp-{pid}-{rand}"
    path.write_text("partial")
    return path


def test_sweep_removes_only_stale_temporaries_of_this_program(tmp_path):
    from advisor._output import STALE_AFTER_S, sweep_stale

    dead = _dead_pid()
    stale = _temp(tmp_path, dead)
    other_target = _temp(tmp_path, dead, name="other.csv", rand="ffffffff")
    live = _temp(tmp_path, os.getpid(), rand="11111111")  # a writer still running
    old_live = _temp(tmp_path, os.getpid(), rand="22222222")  # ...whose pid was reused
    os.utime(old_live, (time.time() - STALE_AFTER_S - 5,) * 2)
    not_ours = [
        tmp_path / f".r.json.advisor-tmp-{dead}-XYZ",
        tmp_path / f"r.json.{dead}.tmp",
        tmp_path / f".r.json.advisor-tmp-{dead}-0123abcd.bak",
        tmp_path / "keep.json",
    ]
    for p in not_ours:
        p.write_text("not ours")
    link = tmp_path / f".x.advisor-tmp-{dead}-aaaaaaaa"
    link.symlink_to("keep.json")
    removed = sweep_stale(tmp_path)
    assert sorted(removed) == sorted([stale.name, other_target.name, old_live.name])
    assert live.exists() and link.is_symlink() and all(p.exists() for p in not_ours)


LOCKER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("LOCKED", flush=True)
    sys.stdin.read()
""")


@pytest.mark.skipif(sys.platform == "win32", reason="flock(2) is POSIX")
def test_sweep_keeps_a_temporary_whose_lock_is_held(tmp_path):
    from advisor._output import sweep_stale

    # A writer in another pid namespace (a container sharing the folder): its pid looks dead
    # from here, but it holds the lock, so its file is kept.
    held = _temp(tmp_path, _dead_pid())
    with subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as p:
        assert p.stdout.readline().strip() == "LOCKED"
        assert sweep_stale(tmp_path) == [] and held.exists()
        p.stdin.close()
        p.wait(timeout=60)
    assert sweep_stale(tmp_path) == [held.name] and not held.exists()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="making a file owned by another user needs root",
)
def test_sweep_keeps_another_users_temporary(tmp_path):
    from advisor._output import sweep_stale

    theirs = _temp(tmp_path, _dead_pid())
    os.chown(theirs, 65534, 65534)
    assert sweep_stale(tmp_path) == [] and theirs.exists()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from advisor._output import write_atomic
    n = sys.argv[2]
    write_atomic(Path(sys.argv[1]), ("writer " + n + "\\n") * 20000)
""")


def test_concurrent_writers_give_one_complete_file_and_no_temporaries(tmp_path):
    target = tmp_path / "out.txt"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(i)]) for i in range(8)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    text = target.read_text()
    first = text.splitlines()[0]
    assert text == (first + "\n") * 20000
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_batch_killed_at_an_arbitrary_moment_then_rerun(tmp_path):
    """A SIGKILL without a hook: as soon as the batch's temporary file holds part of the
    results. The previous results survive; the next batch leaves exactly one file."""
    work = tmp_path / "work"
    work.mkdir()
    src = tmp_path / "p.csv"
    src.write_text(
        "name,data.paired_examples,latency.budget_ms\n"
        + "".join(f"p{i},{1000 + i},{100 + i % 900}\n" for i in range(20_000))
    )
    out = work / "results.jsonl"
    out.write_text("previous\n")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "advisor", "batch", str(src), "-o", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as p:
        try:
            while p.poll() is None:
                temps = [t for t in work.iterdir() if _TEMP.fullmatch(t.name)]
                if temps and temps[0].stat().st_size > 0:
                    p.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.01)  # polling for a file to appear; nothing is asserted on time
            p.wait(timeout=300)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    if p.returncode != -signal.SIGKILL:
        pytest.skip("the batch finished before any part of its results was seen")
    assert out.read_text() == "previous\n"
    code, _, err = _run(["batch", str(src), "-o", str(out)])
    assert code == 0, err
    assert [t.name for t in work.iterdir()] == ["results.jsonl"]
    assert out.read_text().count("\n") == 20_000
