"""Never write where the user did not mean: every command that writes, given an output
through ``..``, a symlink, ``link/..`` (which the kernel resolves through the link), a
special file, a read-only folder, a missing parent, a full folder or a sibling folder.

Each trial runs the real command in a fresh workspace::

    in/v, in/w          two copies of the shapes VOC dataset (the inputs)
    in/pred.json        COCO results (a perfect detector), in/pts.csv centre points,
    in/scores.json      what ``annokit score --out`` wrote for in/v
    lk -> in/v          a symlink to the input folder
    jl -> in/v/JPEGImages   so ``jl/..`` is in/v for the kernel, ``.`` for abspath
    other/sub, ol -> other/sub   so ``ol/..`` is ``other``: outside the inputs
    full/out/x          an existing non-empty output
    sib/                the working folder of the sibling trial (inputs as ../in/...)

and checks: the exit code; on a refusal one ``annokit: error:`` line naming the output; the
inputs byte-identical (hashed before and after); nothing written anywhere else; no
temporary files left. Run as a script, it prints the command x case table::

    python tests/hostile/test_hostile_paths.py
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from corpus import SHAPES  # noqa: E402
from harness import annokit, one_line_error, snapshot, temporaries  # noqa: E402

# -- the commands that write: name -> (output kind, arguments for inputs I and output O)

DATASET, FILE = "dataset", "file"


@dataclass(frozen=True)
class Writer:
    kind: str  # DATASET (a folder or a dataset file) or FILE (a report, list, JSON)
    args: tuple  # "{I}" is the inputs folder (in, or ../in), "{O}" the output
    suffix: str = ""  # what a FILE output's name ends in
    same: str = "v"  # the input the "same" trial writes over, under {I}


WRITERS = {
    "convert": Writer(DATASET, ("convert", "voc", "coco", "{I}/v", "{O}")),
    "convert --to yolo": Writer(DATASET, ("convert", "voc", "yolo", "{I}/v", "{O}")),
    "convert --crops": Writer(DATASET, ("convert", "voc", "imagefolder", "{I}/v", "{O}",
                                        "--crops")),
    "split": Writer(DATASET, ("split", "{I}/v", "{O}")),
    "split --folds": Writer(DATASET, ("split", "{I}/v", "{O}", "--folds", "2")),
    "rebalance": Writer(DATASET, ("rebalance", "{I}/v", "{O}", "--to", "coco")),
    "rebalance list": Writer(FILE, ("rebalance", "{I}/v", "{O}"), ".txt"),
    "edit": Writer(DATASET, ("edit", "{I}/v", "{O}", "--drop-classes", "circle")),
    "merge": Writer(DATASET, ("merge", "{I}/v", "{I}/w", "{O}", "--to", "coco")),
    "apply": Writer(DATASET, ("apply", "{I}/v", "{I}/scores.json", "{O}")),
    "apply --log": Writer(FILE, ("apply", "{I}/v", "{I}/scores.json", "fixed", "--log",
                                 "{O}"), ".csv", "scores.json"),
    "diff --json": Writer(FILE, ("diff", "{I}/v", "{I}/w", "--json", "{O}"), ".json"),
    "check --json": Writer(FILE, ("check", "{I}/v", "--no-images", "--json", "{O}"), ".json"),
    "check --html": Writer(FILE, ("check", "{I}/v", "--no-images", "--html", "{O}"), ".html"),
    "score --out": Writer(FILE, ("score", "{I}/v", "--predictions", "{I}/pred.json",
                                 "--out", "{O}"), ".json", "pred.json"),
    "points to-points": Writer(DATASET, ("points", "to-points", "{I}/v", "{O}", "--to",
                                         "csv")),
    "points to-boxes": Writer(DATASET, ("points", "to-boxes", "{I}/pts.csv", "{O}", "--to",
                                        "coco", "--reference", "{I}/v"), same="pts.csv"),
    "eval --json": Writer(FILE, ("eval", "{I}/v", "{I}/pred.json", "--json", "{O}"), ".json",
                          "pred.json"),
    "evaluate points --json": Writer(FILE, ("evaluate", "points", "{I}/v", "{I}/pts.csv",
                                            "--json", "{O}"), ".json", "pts.csv"),
}

# -- the trials: name -> (output path, what should happen)

REFUSED, WRITTEN, REPLACED = "refused", "written", "replaced"


@dataclass(frozen=True)
class Trial:
    output: str  # relative to the working folder; "{S}" is the suffix of a FILE output
    expect: str  # REFUSED, or WRITTEN / REPLACED at ``lands`` (relative to the workspace)
    lands: str = ""
    says: str = ""  # a part of the refusal line
    cwd: str = "."
    dataset_expect: str = ""  # when a DATASET output behaves otherwise


INPUT = "refusing to write over or into the input"
TRIALS = {
    "same as input": Trial("{SAME}", REFUSED),
    "inside input": Trial("in/v/out{S}", REFUSED, says=INPUT),
    "../ into input": Trial("other/../in/v/out{S}", REFUSED, says=INPUT),
    "symlinked folder into input": Trial("lk/out{S}", REFUSED, says=INPUT),
    "symlink to the input": Trial("{LINK}", REFUSED),
    "link/.. into input": Trial("jl/../out{S}", REFUSED, says=INPUT),
    "link/.. outside input": Trial("ol/../out{S}", WRITTEN, lands="other/out{S}"),
    "/dev/null": Trial("/dev/null", REFUSED, says="refusing to write it"),
    "FIFO": Trial("fifo{S}", REFUSED, says="not a regular file"),
    "read-only folder": Trial("ro/out{S}", REFUSED, says="Permission denied (the folder"),
    "missing parent": Trial("new/deep/out{S}", WRITTEN, lands="new/deep/out{S}"),
    "non-empty output": Trial("full/out{S}", REPLACED, lands="full/out{S}",
                              dataset_expect=REFUSED),
    "from a sibling folder": Trial("../out{S}", WRITTEN, lands="out{S}", cwd="sib"),
}


def expected(writer: Writer, trial: Trial) -> str:
    return trial.dataset_expect if writer.kind == DATASET and trial.dataset_expect \
        else trial.expect


# -- building a workspace -----------------------------------------------------------------

def template(base: Path) -> Path:
    """The inputs every trial copies: built once (scores by the real ``annokit score``)."""
    import annokit as library

    root = base / "template"
    inputs = root / "in"
    shutil.copytree(SHAPES, inputs / "v")
    shutil.copytree(SHAPES, inputs / "w")
    pred = library.read(SHAPES)
    pred.annotations["score"] = 0.9
    library.write(pred, inputs / "pred.json", "coco")
    for args in (("points", "to-points", "in/v", "in/pts.csv", "--to", "csv"),
                 ("score", "in/v", "--predictions", "in/pred.json", "--out",
                  "in/scores.json")):
        code, _, err = annokit(*args, "-q", cwd=root)
        assert code == 0, err
    return root


def workspace(template_root: Path, folder: Path, writer: Writer) -> Path:
    root = folder / "ws"
    shutil.copytree(template_root, root, symlinks=True)
    os.symlink("in/v", root / "lk")
    os.symlink("in/v/JPEGImages", root / "jl")
    (root / "other" / "sub").mkdir(parents=True)
    os.symlink("other/sub", root / "ol")
    (root / "full" / f"out{writer.suffix}").mkdir(parents=True) if writer.kind == DATASET \
        else (root / "full").mkdir()
    if writer.kind == DATASET:
        (root / "full" / "out" / "x").write_text("keep me\n")
    else:
        (root / "full" / f"out{writer.suffix}").write_text("an old report\n")
    (root / "sib").mkdir()
    (root / "ro").mkdir()
    os.chmod(root / "ro", 0o555)
    os.mkfifo(root / f"fifo{writer.suffix}")
    return root


def output_path(writer: Writer, trial: Trial, root: Path) -> str:
    same = f"in/{writer.same}"
    link = "lk"  # a DATASET output that is a link to the input folder
    if writer.kind == FILE:  # a FILE output that is a link to an input file
        inside = writer.same if writer.same != "v" else "v/ImageSets/Main/train.txt"
        os.symlink(f"in/{inside}", root / f"lf{writer.suffix}")
        link = f"lf{writer.suffix}"
    if trial.cwd != ".":
        same, link = f"../{same}", f"../{link}"
    return (trial.output.replace("{SAME}", same).replace("{LINK}", link)
            .replace("{S}", writer.suffix))


def listing(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` by kind (never opened: a FIFO blocks), files with their
    size and mtime."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            regular = stat.S_ISREG(st.st_mode)  # a folder's mtime moves with a lock file
            found[os.path.relpath(path, root)] = (
                kind, os.readlink(path) if stat.S_ISLNK(st.st_mode) else None,
                st.st_size if regular else None, st.st_mtime_ns if regular else None)
    return found


def _unprivileged() -> list[str]:
    """A prefix that runs the command without root's right to write anywhere: a user
    namespace where this user is uid 1000 (root ignores a folder's 555)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--user", "--map-user=1000", "true"], capture_output=True).returncode:
        pytest.skip("running as root without user namespaces: a read-only folder is "
                    "writable")
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000"]


def run_trial(writer: Writer, trial: Trial, template_root: Path, folder: Path) -> dict:
    """Run one command x trial; return what happened (for the test and the table)."""
    root = workspace(template_root, folder, writer)
    out = output_path(writer, trial, root)
    inputs = "in" if trial.cwd == "." else "../in"
    args = [a.replace("{I}", inputs).replace("{O}", out) for a in writer.args]
    before, files_before = snapshot(root / "in"), listing(root)
    cwd = root / trial.cwd
    if trial.output.startswith("ro/"):
        prefix = _unprivileged()
        done = subprocess.run([*prefix, sys.executable, "-m", "annokit", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=60)
        code, stdout, err = done.returncode, done.stdout, done.stderr
    else:
        code, stdout, err = annokit(*args, cwd=cwd, timeout=20)  # a FIFO must not hang
    return {"root": root, "output": out, "code": code, "out": stdout, "err": err,
            "inputs_same": snapshot(root / "in") == before,
            "before": files_before, "after": listing(root), "left": temporaries(root)}


def changed(got: dict, allowed: str = "") -> list[str]:
    """What appeared, went or changed in the workspace, except under ``allowed``."""
    before, after = got["before"], got["after"]

    def ok(rel: str) -> bool:  # the output, and the missing parents it needed
        return bool(allowed) and (rel == allowed or rel.startswith(allowed + "/")
                                  or allowed.startswith(rel + "/") and rel not in before)
    return sorted(k for k in set(before) | set(after)
                  if before.get(k) != after.get(k) and not ok(k))


# -- the tests -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inputs_template(tmp_path_factory) -> Path:
    return template(tmp_path_factory.mktemp("paths"))


def check_trial(writer: Writer, trial: Trial, got: dict) -> None:
    code, err = got["code"], got["err"]
    assert "Traceback" not in err and "internal error" not in err, err
    assert got["inputs_same"], "an input changed"
    assert got["left"] == [], got["left"]
    if expected(writer, trial) == REFUSED:
        assert code == 2, (code, err)
        name = os.path.basename(got["output"].rstrip("/")) or got["output"]
        line = one_line_error(err, name)
        if trial.says:
            assert trial.says in line, line
        assert changed(got) == []
        return
    assert code in (0, 1), (code, err)  # check and diff exit 1 on findings
    lands = trial.lands.replace("{S}", writer.suffix)
    assert os.path.lexists(got["root"] / lands), f"nothing at {lands}: {got['out']}"
    left = changed(got, lands)
    if writer.args[0] == "apply":  # the dataset and the change log: both outputs
        fixed = os.path.normpath(os.path.join(trial.cwd, "fixed"))
        log = f"{lands}.changes.csv" if "--log" not in writer.args else fixed + ".changes.csv"
        left = [rel for rel in left
                if rel != log and rel != fixed and not rel.startswith(fixed + "/")]
    assert left == [], left
    if expected(writer, trial) == REPLACED:
        assert (got["root"] / lands).read_text() != "an old report\n"


@pytest.mark.parametrize("trial", ["link/.. into input", "link/.. outside input"])
@pytest.mark.parametrize("command", list(WRITERS))
def test_output_through_link_dotdot_goes_where_the_kernel_says(inputs_template, tmp_path,
                                                               command, trial):
    """The bug of last session: ``link/..`` resolved lexically wrote beside the link and
    let an output into the input pass the overlap check."""
    got = run_trial(WRITERS[command], TRIALS[trial], inputs_template, tmp_path)
    check_trial(WRITERS[command], TRIALS[trial], got)
    if trial == "link/.. outside input":
        assert not os.path.lexists(got["root"] / f"out{WRITERS[command].suffix}")


NEWCOMER = [t for t in TRIALS if not t.startswith("link/..")]


@pytest.mark.slow
@pytest.mark.parametrize("trial", NEWCOMER)
@pytest.mark.parametrize("command", list(WRITERS))
def test_newcomer_output_paths(inputs_template, tmp_path, command, trial):
    got = run_trial(WRITERS[command], TRIALS[trial], inputs_template, tmp_path)
    check_trial(WRITERS[command], TRIALS[trial], got)


def test_check_output_resolves_link_dotdot_in_python(tmp_path):
    """The policy itself, for Python callers: the target is where the kernel puts it."""
    from annokit.errors import AnnokitError
    from annokit.fileio import check_output, kernel_path, write_file_atomic

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (tmp_path / "other" / "sub").mkdir(parents=True)
    os.symlink(data / "images", tmp_path / "jl")
    os.symlink(tmp_path / "other" / "sub", tmp_path / "ol")
    with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
        check_output(tmp_path / "jl" / ".." / "out", protect=(data,))
    assert check_output(tmp_path / "jl/../out") == data / "out"
    assert kernel_path(f"{tmp_path}/ol/../x") == str(tmp_path / "other" / "x")
    assert kernel_path("plain/../as/given") == "plain/../as/given"  # no link: unchanged
    assert write_file_atomic(tmp_path / "ol/../r.json", "{}") == tmp_path / "other/r.json"
    assert (tmp_path / "other" / "r.json").read_text() == "{}"
    assert not (tmp_path / "r.json").exists()


def test_input_through_link_dotdot_reads_what_the_kernel_means(inputs_template, tmp_path):
    """``jl/..`` is in/v for the kernel (jl -> in/v/JPEGImages); lexically it is the
    workspace, which holds no dataset."""
    root = workspace(inputs_template, tmp_path, WRITERS["convert"])
    code, out, err = annokit("convert", "auto", "coco", "jl/..", "o.json", "--image-root",
                             "jl/../JPEGImages", cwd=root)
    assert code == 0, err
    assert "12 images, 35 annotations" in out
    code, out, err = annokit("info", "jl/..", cwd=root)
    assert code == 0 and "images=12" in out, err


@pytest.mark.parametrize("command", ["merge", "apply --log", "score --out"])
def test_read_only_output_folder_is_refused_before_the_work(inputs_template, tmp_path,
                                                            command):
    """Found by the trials: merge printed its notes before the error (three lines), and
    apply wrote its dataset and then failed on the change log in a read-only folder."""
    got = run_trial(WRITERS[command], TRIALS["read-only folder"], inputs_template, tmp_path)
    check_trial(WRITERS[command], TRIALS["read-only folder"], got)


EMPTY = {"convert": ("convert", "voc", "coco", "in/v", ""),
         "check --json": ("check", "in/v", "--no-images", "--json", ""),
         "score --out": ("score", "in/v", "--predictions", "in/pred.json", "--out", ""),
         "apply --log": ("apply", "in/v", "in/scores.json", "fixed", "--log", ""),
         "info": ("info", "")}


@pytest.mark.parametrize("command", list(EMPTY))
def test_an_empty_path_is_refused_not_taken_for_the_working_folder(inputs_template, tmp_path,
                                                                   command):
    """``--json "$OUT"`` with OUT unset: check wrote no report and said nothing (exit 0);
    convert took '' for the working folder (a refusal naming the wrong thing)."""
    root = workspace(inputs_template, tmp_path, WRITERS["convert"])
    before = listing(root)
    code, _, err = annokit(*EMPTY[command], cwd=root)
    assert code == 2, err
    assert "an empty path" in one_line_error(err)
    assert listing(root) == before


@pytest.mark.parametrize("command", ["check --json", "eval --json", "score --out"])
def test_a_report_path_ending_in_slash_is_refused(inputs_template, tmp_path, command):
    """``--json x.json/`` names a folder to the shell; it wrote the file x.json."""
    writer = WRITERS[command]
    root = workspace(inputs_template, tmp_path, writer)
    before = listing(root)
    args = [a.replace("{I}", "in").replace("{O}", "x.json/") for a in writer.args]
    code, _, err = annokit(*args, cwd=root)
    assert code == 2, err
    assert "ends in /" in one_line_error(err, "x.json/")
    assert listing(root) == before


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fiftyone_export_through_link_dotdot(fo, victim):
    """fiftyone-export protects what built the dataset: ``jl/..`` (the victim folder, for
    the kernel) is refused; ``ol/..`` lands in ``other``, not beside the link."""
    case = victim.parent
    os.symlink("victim/JPEGImages", case / "jl")
    (case / "other" / "sub").mkdir(parents=True)
    os.symlink("other/sub", case / "ol")
    code, _, err = annokit("browse", "jl/..", "--no-launch", "--no-images", "--name",
                           "paths-v", cwd=case, timeout=180)
    assert code == 0, err
    before = snapshot(victim)
    code, _, err = annokit("fiftyone-export", "paths-v", "jl/../out", "--format", "coco",
                           cwd=case, timeout=180)
    assert code == 2, err
    assert INPUT in one_line_error(err, "victim/out")
    code, out, err = annokit("fiftyone-export", "paths-v", "ol/../out.json", "--format",
                             "coco", cwd=case, timeout=180)
    assert code == 0, err
    assert (case / "other" / "out.json").is_file() and not (case / "out.json").exists()
    assert snapshot(victim) == before and temporaries(case) == []


# -- the table of the report: python tests/hostile/test_hostile_paths.py ---------------------

def _outcome(writer: Writer, trial: Trial, got: dict) -> str:
    try:
        check_trial(writer, trial, got)
        verdict = "ok"
    except AssertionError as e:
        verdict = f"BAD ({(str(e).splitlines() or ['an assertion'])[0][:60]})"
    line = (got["err"].strip().splitlines() or [""])[-1][:70]
    return f"exit {got['code']} {verdict}: {line}"


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as base:
        template_root = template(Path(base))
        for name, writer in WRITERS.items():
            for trial_name, trial in TRIALS.items():
                folder = Path(tempfile.mkdtemp(dir=base))
                try:
                    got = run_trial(writer, trial, template_root, folder)
                    print(f"{name} | {trial_name} | {_outcome(writer, trial, got)}",
                          flush=True)
                except BaseException as e:  # the skip of a read-only trial as root
                    print(f"{name} | {trial_name} | not run: {type(e).__name__} {e}")
                finally:
                    os.chmod(folder / "ws" / "ro", 0o755) if (folder / "ws").exists() \
                        else None


if __name__ == "__main__":
    main()



@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
def test_the_library_reads_link_dotdot_as_the_kernel_does(tmp_path, monkeypatch, fmt):
    """``annokit.read("jl/..")``, jl -> a folder inside the dataset, reads that dataset
    with its images found, as the CLI does; lexically ``jl/..`` is the folder holding jl,
    which holds no dataset."""
    import annokit
    from annokit.images import image_table

    data = tmp_path / "data"
    annokit.convert(SHAPES, data, "voc", fmt, images="copy")
    inner = next(p for p in sorted(data.iterdir()) if p.is_dir())  # one level down
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "jl").symlink_to(inner)
    monkeypatch.chdir(tmp_path / "work")
    ds = annokit.read("jl/..", fmt)
    assert (len(ds.images), len(ds.annotations)) == (12, 35)
    assert image_table(ds)["found"].all()
