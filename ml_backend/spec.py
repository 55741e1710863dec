"""What a project's label config asks for, found by parsing it (never by hard-coded tag names).

The ML backend serves every oma config: for a review config it pre-annotates evidence spans and a
verdict, for a probe config it answers the smart TextArea. Control names come from the rubric
(``RUBRIC``); the config tells which object they point at and which task data field that object
shows.

>>> from oma_analysis.rubric.xml import render
>>> s = parse_spec(render("review"))
>>> (s.kind, s.text_key, s.messages_key, s.evidence, s.verdict)
('review', 'completion', 'messages', 'evidence', 'verdict')
>>> p = parse_spec(render("probe"))
>>> (p.kind, p.probe_input, p.probe_answer, p.probe_to_name)
('probe', 'probe_input', 'probe_answer', 'completion')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from oma_analysis.rubric import RUBRIC


class BadPayload(ValueError):
    """A request the backend cannot serve because of what the client sent (HTTP 400)."""


@dataclass(frozen=True)
class ConfigSpec:
    kind: str  # "review", "probe" or "other" (served with empty predictions)
    text_to_name: str | None = None  # the Text object showing the completion
    text_key: str | None = None  # the task data field it shows ("completion")
    messages_key: str | None = None  # the task data field of the conversation (Paragraphs/Chat)
    evidence: str | None = None  # Labels control for evidence spans
    evidence_labels: frozenset[str] = field(default_factory=frozenset)
    verdict: str | None = None  # Choices control for the verdict
    verdict_to_name: str | None = None
    verdict_choices: tuple[str, ...] = ()
    probe_input: str | None = None  # smart TextArea the labeller types into
    probe_answer: str | None = None  # TextArea the evaluated model's answer goes to
    probe_to_name: str | None = None


def _data_key(obj: Any) -> str | None:
    value = getattr(obj, "value", None) or ""
    return value[1:] if value.startswith("$") else None


def _control(li: Any, name: str | None) -> Any | None:
    if not name:
        return None
    try:
        return li.get_control(name)
    except Exception:  # LabelInterface raises a bare exception type for unknown names
        return None


def parse_spec(label_config: str) -> ConfigSpec:
    """Parse ``label_config`` with the SDK's LabelInterface; raise BadPayload if it is not a config."""
    from label_studio_sdk.label_interface import LabelInterface

    if not isinstance(label_config, str) or not label_config.strip():
        raise BadPayload("label_config must be a non-empty XML string")
    try:
        ET.fromstring(label_config)
    except ET.ParseError as exc:
        raise BadPayload(f"label_config is not well-formed XML: {exc}") from None
    try:
        li = LabelInterface(label_config)
    except Exception as exc:
        raise BadPayload(f"label_config does not parse: {exc}") from None
    objects = {o.name: o for o in li.objects}
    messages_key = next((_data_key(o) for o in li.objects if o.tag in ("Paragraphs", "Chat")), None)

    p_in, p_out = _control(li, RUBRIC.probe.input), _control(li, RUBRIC.probe.answer)
    if p_in is not None and p_out is not None and p_in.tag == "TextArea" and p_out.tag == "TextArea":
        to = p_out.to_name[0]
        obj = objects.get(to)
        return ConfigSpec("probe", text_to_name=to, text_key=_data_key(obj) if obj else None,
                          messages_key=messages_key, probe_input=p_in.name, probe_answer=p_out.name,
                          probe_to_name=to)

    ev = _control(li, RUBRIC.evidence_question)
    verdict = _control(li, RUBRIC.verdict.question)
    if ev is not None and ev.tag == "Labels":
        to = ev.to_name[0]
        obj = objects.get(to)
        if obj is None or obj.tag != "Text" or _data_key(obj) is None:
            raise BadPayload(f"label_config: <Labels name={ev.name!r}> must point at a <Text> with value=\"$field\"")
        vc = verdict if verdict is not None and verdict.tag == "Choices" else None
        return ConfigSpec("review", text_to_name=to, text_key=_data_key(obj), messages_key=messages_key,
                          evidence=ev.name, evidence_labels=frozenset(ev.labels or ()),
                          verdict=vc.name if vc else None, verdict_to_name=vc.to_name[0] if vc else None,
                          verdict_choices=tuple(vc.labels or ()) if vc else ())
    return ConfigSpec("other", messages_key=messages_key)


def prompt_text(data: dict[str, Any], spec: ConfigSpec, where: str) -> str:
    """The user's request of a task: the last user turn of the conversation (or ``data["prompt"]``),
    built as ``oma_analysis.classifier.export`` builds training pairs."""
    from oma_analysis.classifier.export import last_user_turn

    key = spec.messages_key or "messages"
    msgs = data.get(key)
    if msgs is not None:
        text = last_user_turn(msgs)
        if text is None:
            raise BadPayload(f"{where}: data.{key} must be a non-empty list of {{role, content}} objects")
        return text
    if isinstance(data.get("prompt"), str):
        return data["prompt"]
    raise BadPayload(f"{where}: data needs {key!r} (list of {{role, content}}) or 'prompt' (string)")
