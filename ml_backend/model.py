"""oma's Label Studio ML backend model (a label-studio-ml ``LabelStudioMLBase``): a thin shell.

* review configs: what a labeller sees pre-filled is **evidence only**: every failed automatic
  check (``oma_analysis.checks.run_checks``, so a new check shows up without a change here)
  becomes a span on the completion, labelled with the rubric failure type it is evidence of, with
  the check id, checklist item and reason in the region's ``meta``. Never a suggested verdict: a
  verdict learned from other labellers' majority would anchor the next labeller's independent
  judgement. The intent classifier only orders tasks: the prediction's ``score`` is its
  confidence, so sorting by prediction score ascending puts the most uncertain tasks first.
* probe configs: with an interactive request's ``context`` the smart TextArea's text goes to the
  evaluated model (``OMA_PROBE_MODEL``) and its answer comes back as the answer TextArea.
* ``fit`` (webhook path) counts a new label; retrains run in the background (``training``).

Control names and task fields come from parsing the label config with the SDK's LabelInterface
(``spec.parse_spec``); rubric ids come from ``RUBRIC``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from label_studio_ml.model import LabelStudioMLBase

from ml_backend import intent, probe, training
from ml_backend.spec import BadPayload, ConfigSpec, parse_spec, prompt_text
from oma_analysis.rubric import RUBRIC

logger = logging.getLogger(__name__)

CHECKS_ONLY = "checks-only"
#: Rubric failure type that a failed check of each capable checklist item is evidence of. The
#: checks cover length, language, format, repetition and refusals of benign requests: all of them
#: "clearly worse than the model's demonstrated ability" (the rubric's ``lower_quality``).
DEFAULT_FAILURE = RUBRIC.failure_ids.lower_quality
FAILURE_FOR_ITEM: dict[str, str] = {i.id: DEFAULT_FAILURE for i in RUBRIC.capable_items}

TRAIN_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


class OmaBackend(LabelStudioMLBase):
    """One instance per label config; the classifier and the generator are shared per process."""

    def __init__(self, label_config: str | None = None, train_output: dict | None = None, **kwargs: Any) -> None:
        # Parse first: label-studio-ml's own parser raises a bare XML error on a malformed config.
        self.spec: ConfigSpec = parse_spec(label_config) if label_config else ConfigSpec("other")
        super().__init__(label_config=label_config, train_output=train_output, **kwargs)
        self.config_hash = hashlib.sha256((label_config or "").encode()).hexdigest()[:12]

    # ---- versions ------------------------------------------------------------------------------
    @property
    def model_version(self) -> str:
        if self.spec.kind == "probe":
            # Labellers see model_version on every prediction: name the evaluated model only by a
            # hash of its spec, never by its path or name (blinding).
            spec = probe.probe_model()
            return f"probe-{hashlib.sha256(spec.encode()).hexdigest()[:10]}" if spec else "probe-none"
        return intent.current_version() or CHECKS_ONLY

    # ---- predict -------------------------------------------------------------------------------
    def predict(self, tasks: list[dict], **kwargs: Any) -> list[dict]:
        """One prediction per task: ``{"result": [...], "score": float, "model_version": str}``."""
        if not isinstance(tasks, list):
            raise BadPayload("tasks must be a list of task objects")
        for i, t in enumerate(tasks):
            if not isinstance(t, dict) or not isinstance(t.get("data"), dict):
                raise BadPayload(f"tasks[{i}] must be an object with a 'data' object")
        if self.spec.kind == "review":
            return self._predict_review(tasks)
        if self.spec.kind == "probe":
            return self._predict_probe(tasks, kwargs.get("context"))
        return [{"result": [], "score": 0.0, "model_version": self.model_version} for _ in tasks]

    def _where(self, i: int, task: dict) -> str:
        return f"tasks[{i}] (task {task.get('id', '?')})"

    def _predict_review(self, tasks: list[dict]) -> list[dict]:

        s = self.spec
        pairs: list[tuple[str, str]] = []
        for i, t in enumerate(tasks):
            comp = t["data"].get(s.text_key)
            if not isinstance(comp, str):
                raise BadPayload(f"{self._where(i, t)}: data.{s.text_key} must be a string (the completion)")
            pairs.append((prompt_text(t["data"], s, self._where(i, t)), comp))
        clf = intent.current()
        p_not = clf.predict_not_met(pairs) if clf is not None else None
        version = clf.version if clf is not None else CHECKS_ONLY
        out = []
        for k, (prompt, comp) in enumerate(pairs):
            result = self._evidence(prompt, comp)
            if p_not is not None:
                p = float(p_not[k])
                score = max(p, 1.0 - p)  # confidence only: it says how sure, never which way
            else:
                # No classifier: a failed check is certain evidence; otherwise we know nothing, so
                # these tasks sort first (lowest score) under uncertainty ordering.
                score = 1.0 if result else 0.0
            out.append({"result": result, "score": round(score, 6), "model_version": version})
        return out

    def _evidence(self, prompt: str, completion: str) -> list[dict]:
        from oma_analysis.checks import run_checks

        s = self.spec
        regions = []
        for c in run_checks(prompt, completion).failed:
            # A check of a hard constraint (the offensive-language check) is evidence of that
            # constraint itself; every other failed check of a capable item of lower quality.
            label = c.item if c.hard_constraint else FAILURE_FOR_ITEM.get(c.item, DEFAULT_FAILURE)
            if label not in s.evidence_labels:
                continue
            spans = [(e.start, e.end, e.note) for e in c.evidence if 0 <= e.start < e.end <= len(completion)]
            if not spans and completion.strip():
                spans = [(0, len(completion), "")]  # a whole-text failure (e.g. far too short)
            for start, end, note in spans:
                regions.append({
                    "id": hashlib.sha1(f"{c.check_id}:{start}:{end}".encode()).hexdigest()[:10],
                    "from_name": s.evidence, "to_name": s.text_to_name, "type": "labels",
                    "value": {"start": start, "end": end, "text": completion[start:end], "labels": [label]},
                    # Shown with the region: which check fired, for which checklist item, and why.
                    "meta": {"text": [f"{c.check_id} ({c.item}): {note}".rstrip(": ")]},
                })
        return regions

    def _predict_probe(self, tasks: list[dict], context: Any) -> list[dict]:
        text = probe.probe_text(context, self.spec)
        if text is None:  # batch pre-annotation: nothing to ask yet
            return [{"result": [], "score": 0.0, "model_version": self.model_version} for _ in tasks]
        answer = probe.ask(text)
        res = probe.answer_result(self.spec, answer)
        return [{"result": [res], "score": 1.0, "model_version": self.model_version} for _ in tasks]

    # ---- training ------------------------------------------------------------------------------
    def fit(self, completions: Any, workdir: str | None = None, **kwargs: Any) -> dict:
        """Webhook path (label-studio-ml calls ``fit((), event=..., data=...)`` from
        ``process_event``): count the new label and maybe start a background retrain."""
        event, data = kwargs.get("event"), kwargs.get("data") or {}
        if event not in TRAIN_EVENTS:
            return {"event": event, "counted": False}
        project = data.get("project") if isinstance(data, dict) else None
        pid = project.get("id") if isinstance(project, dict) else project
        if not isinstance(pid, int):
            task = data.get("task") if isinstance(data, dict) else None
            pid = task.get("project") if isinstance(task, dict) else None
        if not isinstance(pid, int):
            raise BadPayload(f"{event}: payload needs project.id (or task.project) to know what to retrain")
        ann = data.get("annotation") if isinstance(data, dict) else None
        if not isinstance(ann, dict) or not isinstance(ann.get("result"), list):
            raise BadPayload(f"{event}: payload needs an 'annotation' object with a 'result' list")
        return training.on_new_label(pid, hostname=self.hostname, access_token=self.access_token)
