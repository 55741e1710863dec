"""Retraining the intent classifier in the background, per study, behind the quality gate.

**Study.** Every review project that connects the backend (its ``/setup``) joins the study; a
retrain pulls all of their exports (label-studio-sdk, with the backend's own Label Studio token:
``OMA_LS_URL``/``OMA_LS_TOKEN`` or the ``oma ls up`` state, else the token Label Studio sent in
``/setup``) and trains on all their labels together, so with one project per labeller no model
is trained on one labeller's labels. A project whose data must not be trained on (its
``extra_params`` say ``oma_no_training``: e.g. Self-Instruct, whose authors ask that it is not
used for training) is never pulled for training; a study with nothing else refuses with that
reason in ``/status``.

**A study of isolated workspaces** (``oma study``: one Label Studio per labeller, each with its
own database, admin token and project ids that collide across servers): with ``OMA_STUDY`` (the
study's name in ``$OMA_HOME/studies``, or its directory) the study file, not the ``/setup`` calls,
says what is trained on. A retrain pulls every labeller's workspace (and the researcher's gold
project) with ``study.pull_study``, the same merge the analysis reads, so each task's labels from
all its labellers are aggregated together; the researcher's gold answers are left out of the
training labels (the labellers' labels of gold tasks are used). The poller sums each workspace's
annotation count.

**Triggers.** New labels are counted per study: by a poller (one per models directory, across
gunicorn workers) that asks Label Studio for each project's annotation count every
``OMA_POLL_S`` seconds, and by ``/webhook`` calls that carry the backend's credentials. Label
Studio's own ML webhook is not used: it could only authenticate with a header that every
organisation member can read. Every ``OMA_RETRAIN_EVERY`` new labels request a retrain.

**At most one running, at most one queued.** ``.retrain.lock`` is held (flock) by the one thread
training; a request while it is held sets the single ``queued`` flag, however many requests
arrive. Checking the flag and releasing the lock happen under the counts lock, so no request is
lost between them. ``.retrain.json`` says what the last retrain did (running / done / failed /
interrupted) and whether its model was served; ``.counts.json`` holds the counters.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.lifecycle.backend import NO_TRAINING_KEY, models_dir  # noqa: F401 - NO_TRAINING_KEY re-exported

logger = logging.getLogger(__name__)

COUNTS = ".counts.json"
COUNTS_LOCK = ".counts.lock"
LOCK = ".retrain.lock"
POLL_LOCK = ".poll.lock"
STATUS = ".retrain.json"
STUDY = ".study.json"

_setup_client: dict[str, str] = {}  # hostname + access_token of the last /setup (kept in memory only)


def retrain_every() -> int:
    try:
        n = int(os.environ.get("OMA_RETRAIN_EVERY", "20"))
    except ValueError:
        raise OmaError("OMA_RETRAIN_EVERY must be a positive integer") from None
    return max(1, n)


def poll_seconds() -> float:
    """Seconds between polls of Label Studio's annotation counts (0: no poller)."""
    try:
        return max(0.0, float(os.environ.get("OMA_POLL_S", "30")))
    except ValueError:
        raise OmaError("OMA_POLL_S must be a number of seconds") from None


def train_kwargs() -> dict[str, Any]:
    """Fine-tuning settings for retrains (env: OMA_TRAIN_EPOCHS, OMA_TRAIN_MAX_LENGTH)."""
    return {"epochs": float(os.environ.get("OMA_TRAIN_EPOCHS", "3")),
            "max_length": int(os.environ.get("OMA_TRAIN_MAX_LENGTH", "256"))}


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _write(path: Path, obj: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def status() -> dict:
    return _read(models_dir() / STATUS)


def public_status() -> dict:
    """What ``/status`` shows: counters, the study (ids only), the last retrain. No paths."""
    root = models_dir()
    counts = _read(root / COUNTS)
    st = status()
    st.pop("pid", None)
    return {"retrain_every": retrain_every(), "labels_since_retrain": int(counts.get("new_labels", 0)),
            "retrains_started": int(counts.get("started", 0)), "retrain_queued": bool(counts.get("queued")),
            "study": {pid: {k: v for k, v in p.items() if k in ("kind", "no_training")}
                      for pid, p in study().items()},
            "retrain": st, **_study_summary()}


def _study_summary() -> dict:
    """With ``OMA_STUDY``: the study's name and its number of workspaces (no URLs, no e-mails)."""
    if study_file_name() is None:
        return {}
    try:
        st = load_study()
    except OmaError as exc:
        return {"oma_study": {"error": _scrub(str(exc))}}
    return {"oma_study": {"name": st.name, "workspaces": len(st.team)}} if st is not None else {}


# ---- study ------------------------------------------------------------------------------------

def study() -> dict[str, dict]:
    return _read(models_dir() / STUDY)


def join_study(project: int, kind: str, extra_params: dict | None, *, keep_existing: bool = False) -> None:
    """Record that ``project`` uses this backend (its kind and whether it may be trained on).
    ``keep_existing``: only add a project not known yet (a webhook knows nothing of its licence)."""
    root = models_dir()
    no_train = None
    if isinstance(extra_params, dict) and extra_params.get(NO_TRAINING_KEY):
        no_train = str(extra_params[NO_TRAINING_KEY])
    with _flocked(root / COUNTS_LOCK):
        s = _read(root / STUDY)
        entry = {"kind": kind, "no_training": no_train}
        if keep_existing and str(project) in s:
            return
        if s.get(str(project)) != entry:
            s[str(project)] = entry
            _write(root / STUDY, s)


def remember_setup(hostname: str, access_token: str) -> None:
    if hostname and access_token:
        _setup_client.update(hostname=hostname, access_token=access_token)


def study_file_name() -> str | None:
    return os.environ.get("OMA_STUDY") or None


def load_study() -> Any | None:
    """The ``oma study`` this backend retrains on (``OMA_STUDY``: a name under $OMA_HOME/studies or a
    study directory), or None in the one-server mode."""
    from oma_analysis.labelstudio.study import STUDY_FILE, Study

    name = study_file_name()
    if name is None:
        return None
    path = Path(name)
    if (path / STUDY_FILE).is_file():
        return Study.load(path.name, path.parent.parent)  # <home>/studies/<name>/study.json
    return Study.load(name)


# ---- counting and the single queue ---------------------------------------------------------------

def _add_labels(n: int) -> bool:
    """Count ``n`` new labels; True when that makes a retrain due (the counter restarts)."""
    root = models_dir()
    with _flocked(root / COUNTS_LOCK):
        counts = _read(root / COUNTS)
        total = int(counts.get("new_labels", 0)) + n
        due = total >= retrain_every()
        counts["new_labels"] = 0 if due else total
        _write(root / COUNTS, counts)
    return due


def on_new_label(project: int, *, hostname: str = "", access_token: str = "") -> dict:
    """Webhook path: count one new label of ``project``; every ``retrain_every()`` labels request a
    retrain (started, or queued behind the running one)."""
    remember_setup(hostname, access_token)
    due = _add_labels(1)
    outcome = request_retrain() if due else "counted"
    return {"project": project, "retrain": outcome, "retrain_every": retrain_every()}


def request_retrain() -> str:
    """Start a background retrain, or queue one behind the running one: ``started`` / ``queued``
    (at most one is ever queued: further requests fold into it). Never blocks on a retrain."""
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with _flocked(root / COUNTS_LOCK):
        fh = open(root / LOCK, "a+")  # noqa: SIM115 - held by the retrain thread until it finishes
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            counts = _read(root / COUNTS)
            counts["queued"] = True
            _write(root / COUNTS, counts)
            return "queued"
        counts = _read(root / COUNTS)
        counts["started"] = int(counts.get("started", 0)) + 1
        _write(root / COUNTS, counts)
    threading.Thread(target=_run, args=(fh,), name="oma-retrain", daemon=True).start()
    return "started"


def _next_or_release(root: Path, lock_fh: Any) -> bool:
    """Under the counts lock: take the queued request (True: run again) or release the retrain
    lock (False). Atomic with ``request_retrain``, so a request is never lost in between."""
    with _flocked(root / COUNTS_LOCK):
        counts = _read(root / COUNTS)
        if counts.get("queued"):
            counts["queued"] = False
            counts["started"] = int(counts.get("started", 0)) + 1
            _write(root / COUNTS, counts)
            # Said at once, so /status never shows "nothing queued, last one done" in between.
            _write(root / STATUS, {"state": "running", "started": time.time(), "pid": os.getpid()})
            return True
        fcntl.flock(lock_fh, fcntl.LOCK_UN)
        lock_fh.close()
        return False


def _run(lock_fh: Any) -> None:
    root = models_dir()
    try:
        while True:
            started = time.time()
            _write(root / STATUS, {"state": "running", "started": started, "pid": os.getpid()})
            try:
                res = retrain()
                _write(root / STATUS, {"state": "done", "started": started, "finished": time.time(), **res})
                logger.info("retrained: served=%s %s", res.get("served"), res.get("gate", {}).get("reason"))
            except Exception as exc:  # a failed retrain leaves the old model live; say why
                logger.exception("retrain failed")
                _write(root / STATUS, {"state": "failed", "started": started, "finished": time.time(),
                                       "error": _scrub(f"{type(exc).__name__}: {exc}"),
                                       **getattr(exc, "read", {})})
            if not _next_or_release(root, lock_fh):
                return
    except BaseException:
        with contextlib.suppress(OSError, ValueError):
            fcntl.flock(lock_fh, fcntl.LOCK_UN)
            lock_fh.close()
        raise


def _scrub(message: str) -> str:
    """/status reveals no paths: the models directory and $OMA_HOME become placeholders."""
    from oma_analysis.lifecycle import oma_home

    for path, name in ((str(models_dir()), "<models>"), (str(oma_home()), "<OMA_HOME>")):
        message = message.replace(path, name)
    return message


def recover() -> dict | None:
    """At worker start: a status still ``running`` while no thread holds the retrain lock means the
    backend was killed (or stopped) in the middle of a retrain. The previous model is still
    ``current`` (a version is renamed into place only when complete); mark the status
    ``interrupted``, remove the half-written version directories and export copies, and make the
    next label start a retrain. Returns the new status, or None when there was nothing to recover
    (or a retrain is running in another worker)."""
    root = models_dir()
    if not (root / STATUS).is_file():
        return None
    with open(root / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a retrain is running (another worker): nothing was cut off
        try:
            st = status()
            if st.get("state") != "running":
                return None
            removed = []
            for p in sorted([*root.glob(".tmp-*"), *root.glob(".export-*")]):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p.name)
            for p in root.glob(".current.*.tmp"):
                p.unlink(missing_ok=True)
            new = {**st, "state": "interrupted", "finished": time.time(), "removed": removed,
                   "error": "the backend stopped during this retrain; the previous model stayed live"}
            new.pop("pid", None)
            _write(root / STATUS, new)
            with _flocked(root / COUNTS_LOCK):
                counts = _read(root / COUNTS)
                counts["new_labels"] = max(int(counts.get("new_labels", 0)), retrain_every() - 1)
                counts["queued"] = False
                _write(root / COUNTS, counts)
            logger.warning("a retrain was interrupted (backend stopped); previous model kept, removed %s", removed)
            return new
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---- pulling from Label Studio -----------------------------------------------------------------

def _client() -> Any:
    """Label Studio client with the backend's own token (OMA_LS_URL/OMA_LS_TOKEN or `oma ls up`
    state), else the URL and token the last /setup sent."""
    from oma_analysis.labelstudio.client import connect

    try:
        return connect()
    except OmaError:
        if _setup_client:
            return connect(_setup_client["hostname"], _setup_client["access_token"])
        raise


def poll_once(client: Any | None = None) -> dict:
    """Ask Label Studio for each study project's annotation count; count the growth as new
    labels (a project seen for the first time brings all its labels) and request a retrain when
    due. Returns what it saw."""
    root = models_dir()
    st = load_study()
    totals: dict[str, int] = {}
    if st is not None:
        totals = _study_totals(st)
    else:
        projects = [int(p) for p, v in study().items() if v.get("kind") == "review"]
        if not projects:
            return {"projects": 0, "new": 0, "retrain": None}
        client = client or _client()
        for pid in projects:
            try:
                totals[str(pid)] = int(client.projects.get(id=pid).total_annotations_number or 0)
            except Exception as exc:  # a deleted project, a restart of Label Studio: try again next time
                logger.warning("poll: project %s: %s", pid, type(exc).__name__)
    with _flocked(root / COUNTS_LOCK):
        counts = _read(root / COUNTS)
        seen = counts.get("seen", {})
        new = sum(max(0, t - int(seen.get(p, 0))) for p, t in totals.items())
        counts["seen"] = {**seen, **totals}
        _write(root / COUNTS, counts)
    due = _add_labels(new) if new else False
    return {"projects": len(totals), "new": new, "retrain": request_retrain() if due else None}


def _study_totals(st: Any) -> dict[str, int]:
    """Annotation count of each labeller's workspace project (keyed ``ws:<slug>``: project ids
    repeat across workspaces), each asked with that workspace's own admin token."""
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.workspaces import slug

    totals = {}
    for ws in st.team:
        if ws.project_id is None:
            continue
        try:
            proj = connect(ws.url, ws.admin_token(), timeout=30).projects.get(id=ws.project_id)
            totals[f"ws:{slug(ws.email)}"] = int(proj.total_annotations_number or 0)
        except Exception as exc:  # a workspace that is down: try again next time
            logger.warning("poll: a workspace of study %s: %s", st.name, type(exc).__name__)
    return totals


def start_poller() -> threading.Thread | None:
    """One daemon thread per worker; only the worker holding ``.poll.lock`` polls (another takes
    over if it dies: the lock goes with its process)."""
    interval = poll_seconds()
    if interval <= 0:
        return None

    def loop() -> None:
        root = models_dir()
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / POLL_LOCK, "a+")  # noqa: SIM115 - held for the life of the worker
        held = False
        while True:
            time.sleep(interval)
            if not held:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                except BlockingIOError:
                    continue
            try:
                poll_once()
            except Exception:
                logger.exception("poll of Label Studio failed; trying again in %.0f s", interval)

    t = threading.Thread(target=loop, name="oma-label-poller", daemon=True)
    t.start()
    return t


def retrain() -> dict:
    """Pull every trainable review project of the study, aggregate labels per task, fine-tune,
    and publish the new version only if it passes the quality gate. Also measures the precision
    and recall of each evidence kind against the labels. Returns what ``/status`` shows."""
    import pandas as pd

    from oma_analysis.classifier import evidence_precision_recall, train
    from oma_analysis.classifier.export import training_frame
    from oma_analysis.labelstudio.pull import pull

    st = load_study()
    if st is not None:
        return _retrain_study(st)
    members = {int(p): v for p, v in study().items() if v.get("kind") == "review"}
    refused = {p: v["no_training"] for p, v in members.items() if v.get("no_training")}
    allowed = sorted(p for p in members if p not in refused)
    if not allowed:
        why = "; ".join(f"project {p}: {r}" for p, r in sorted(refused.items())) or "no review project connected"
        raise OmaError(f"nothing in the study may be trained on ({why})")
    client = _client()
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    frames, ev_frames, label_frames, skipped = [], [], [], {}
    # The exports (labels) go next to the models, not to /tmp, so recover() removes them after a kill.
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as tmp:
        for pid in allowed:
            export = pull(client, pid, Path(tmp) / f"export-{pid}.json")
            try:
                df = training_frame(export)
            except OmaError as exc:
                skipped[pid] = str(exc).replace(str(export), f"project {pid}")
                continue
            frames.append(df.assign(task=f"{pid}:" + df["task"].astype(str)))
            ev, labels = _evidence_and_labels(export, pid)
            ev_frames.append(ev)
            label_frames.append(labels)
        if not frames:
            raise OmaError("no labelled task with a clear majority in the study yet ("
                           + "; ".join(f"{v}" for v in skipped.values()) + ")")
        data = pd.concat(frames, ignore_index=True)
        res = train(data, root, gate=True, **train_kwargs())
    pr = evidence_precision_recall(pd.concat(ev_frames, ignore_index=True), pd.concat(label_frames, ignore_index=True))
    card = res.card
    return {"served": res.served, "version": res.path.name if res.path else None, "gate": card.get("gate"),
            "projects": allowed, "not_trained_on": {str(p): r for p, r in refused.items()},
            "skipped": {str(p): r for p, r in skipped.items()}, "n_tasks": int(len(data)),
            "held_out_n": card.get("held_out_n"), "auroc": card.get("auroc"), "accuracy": card.get("accuracy"),
            "temperature": card.get("temperature"), "ece": card.get("ece"),
            "ece_uncalibrated": card.get("ece_uncalibrated"),
            "evidence_precision_recall": json.loads(pr.to_json(orient="records"))}


class RetrainRefused(OmaError):
    """Training refused (e.g. too few labelled tasks); ``read`` says what was read, for /status."""

    def __init__(self, message: str, read: dict) -> None:
        super().__init__(message)
        self.read = read


def _retrain_study(st: Any) -> dict:
    """``retrain`` for an ``oma study``: every labeller's workspace, merged by task key."""
    from oma_analysis.classifier import evidence_precision_recall, from_long_frame, train
    from oma_analysis.classifier.export import task_texts
    from oma_analysis.ingest import load
    from oma_analysis.labelstudio.study import pull_study

    if st.kind != "review":
        raise OmaError(f"study {st.name!r} is a {st.kind} study; only review labels train the classifier")
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as tmp:
        merged = Path(tmp) / "study.json"
        pulled = pull_study(st, merged, resume=False)
        frame = load(merged).frame
        crowd = frame[~frame["ground_truth"].astype(bool)]  # the researcher's gold answers: not training labels
        data = from_long_frame(crowd, task_texts(merged))
        ev, labels = _evidence_and_labels(merged, st.name)
    read = {"study": st.name, "workspaces_read": len(st.team), "labels_read": int(sum(pulled.annotations.values())),
            "gold_left_out": int(pulled.gold_annotations), "foreign_left_out": len(pulled.foreign),
            "n_tasks": int(len(data))}
    if data.empty or len(data) < 4 or data["label"].nunique() < 2:
        got = sorted(data["label"].unique().tolist()) if len(data) else []
        raise RetrainRefused(f"study {st.name}: {len(data)} task(s) with a clear majority (labels {got}); "
                             "need at least 4 and both labels", read)
    data = data.assign(task=f"{st.name}:" + data["task"].astype(str))
    res = train(data, root, gate=True, **train_kwargs())
    pr = evidence_precision_recall(ev, labels)
    card = res.card
    return {"served": res.served, "version": res.path.name if res.path else None, "gate": card.get("gate"),
            **read, "held_out_n": card.get("held_out_n"), "auroc": card.get("auroc"),
            "accuracy": card.get("accuracy"), "temperature": card.get("temperature"), "ece": card.get("ece"),
            "ece_uncalibrated": card.get("ece_uncalibrated"),
            "evidence_precision_recall": json.loads(pr.to_json(orient="records"))}


def _evidence_and_labels(export: Path, project: int | str) -> tuple[Any, Any]:
    """(``task, kind`` of the evidence the backend shows, long-frame labels with ``saw_verdict``)
    for one export; task ids prefixed with the project so projects don't collide."""
    import pandas as pd

    from oma_analysis.checks import run_checks
    from oma_analysis.classifier.export import task_texts
    from oma_analysis.ingest import load
    from oma_analysis.rubric import RUBRIC

    texts = task_texts(export)
    ev = [(f"{project}:{t}", c.check_id) for t, a, b in texts.itertuples(index=False)
          for c in run_checks(a, b).failed]
    frame = load(export).frame.copy()
    # Labels given while a verdict suggestion was on the task (older backends pre-filled one) are
    # not independent of it: marked, and left out of the precision/recall.
    suggested = set()
    for t in json.loads(Path(export).read_text(encoding="utf-8")):
        for p in t.get("predictions") or []:
            results = p.get("result") or []
            if any(isinstance(r, dict) and r.get("from_name") == RUBRIC.verdict.question for r in results):
                suggested.add(str(t.get("id")))
    frame["saw_verdict"] = frame["task"].astype(str).isin(suggested)
    frame["task"] = f"{project}:" + frame["task"].astype(str)
    return pd.DataFrame(ev, columns=["task", "kind"]), frame
