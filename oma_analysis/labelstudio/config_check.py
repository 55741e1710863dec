"""Validate Label Studio configs, predictions and annotations before they reach Label Studio.

Three layers, because each catches what the others miss: our own structural pass (names the tag
and line for missing ``toName`` targets, duplicate names, dangling ``whenTagName``), the SDK's
``LabelInterface``, and Label Studio's own ``validate_label_config`` (needs Django: it runs in
Label Studio's own environment, ``ls_env/oma_ls_validate.py``, with a throw-away data dir).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from oma_analysis import OmaError

OBJECT_TAGS = {"Text", "Paragraphs", "HyperText", "Image", "Audio", "Video", "Table", "TimeSeries",
               "Markdown", "Chat"}


@dataclass(frozen=True)
class ConfigProblem:
    source: str
    tag: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.tag}: {self.message}"


def _describe(el: ET.Element) -> str:
    name = el.get("name")
    return f"<{el.tag} name=\"{name}\">" if name else f"<{el.tag}>"


def structural_problems(xml: str, source: str = "<config>") -> list[ConfigProblem]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        return [ConfigProblem(source, "XML", f"not well-formed: {exc}")]
    problems: list[ConfigProblem] = []
    names: dict[str, ET.Element] = {}
    for el in root.iter():
        n = el.get("name")
        if n is None:
            continue
        if n in names:
            problems.append(ConfigProblem(source, _describe(el), f"duplicate name {n!r} (also on <{names[n].tag}>)"))
        else:
            names[n] = el
    objects = {n for n, el in names.items() if el.tag in OBJECT_TAGS}
    for el in root.iter():
        to = el.get("toName")
        if to is not None:
            for target in to.split(","):
                if target not in objects:
                    problems.append(ConfigProblem(source, _describe(el),
                                                  f"toName={target!r} is not the name of an object tag "
                                                  f"(objects: {sorted(objects)})"))
        when = el.get("whenTagName")
        if when is not None and when not in names:
            problems.append(ConfigProblem(source, _describe(el), f"whenTagName={when!r} names no tag"))
    return problems


#: Label Studio's verdict per config text (None = valid). Each validator run starts Django in Label
#: Studio's environment (seconds), so verdicts are kept per process and on disk, keyed by the config
#: and the Label Studio installation (its command's path and modification time).
_LS_VERDICTS: dict[str, str | None] = {}


def _verdict_file(xml: str) -> Path:
    from oma_analysis.locations import label_studio_install_key, user_cache

    key = hashlib.sha256(f"{label_studio_install_key()}\0{xml}".encode()).hexdigest()
    return user_cache("ls-validate", f"{key}.json")


def _django_validate(xml: str) -> str | None:
    """Label Studio's own validator, run in Label Studio's environment (``ls_env/oma_ls_validate.py``):
    None when the config is valid, else its message."""
    if xml in _LS_VERDICTS:
        return _LS_VERDICTS[xml]
    cached = _verdict_file(xml)
    try:
        _LS_VERDICTS[xml] = json.loads(cached.read_text(encoding="utf-8"))["message"]
        return _LS_VERDICTS[xml]
    except (OSError, ValueError, KeyError):
        pass
    from oma_analysis.labelstudio.server import LS_ENV_DIR
    from oma_analysis.locations import label_studio_env, label_studio_python

    python = label_studio_python()
    res = subprocess.run([str(python), str(LS_ENV_DIR / "oma_ls_validate.py")], input=json.dumps([xml]),
                         env=label_studio_env(), capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise OmaError(f"Label Studio's config validator failed ({python}): {res.stderr.strip()[-2000:]}")
    message = json.loads(res.stdout)[0]
    _LS_VERDICTS[xml] = message
    try:  # a cache, not a record: a failed write costs the next process one validator run
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"message": message}), encoding="utf-8")
        tmp.replace(cached)
    except OSError:
        pass
    return message


def check_config(xml: str, source: str = "<config>", *, with_label_studio: bool = True) -> list[ConfigProblem]:
    """All problems found in one config; empty when it is valid for both validators."""
    problems = structural_problems(xml, source)
    if problems:
        return problems
    from label_studio_sdk.label_interface import LabelInterface

    try:
        LabelInterface(xml).validate()
    except Exception as exc:
        problems.append(ConfigProblem(source, "LabelInterface", str(exc)))
    if with_label_studio:
        message = _django_validate(xml)
        if message is not None:
            problems.append(ConfigProblem(source, "label_studio.validate_label_config", message))
    return problems


def check_files(paths: list[str | Path], *, with_label_studio: bool = True) -> list[ConfigProblem]:
    out: list[ConfigProblem] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            out.append(ConfigProblem(str(path), "file", "does not exist"))
            continue
        out += check_config(path.read_text(encoding="utf-8"), str(path), with_label_studio=with_label_studio)
    return out


@functools.lru_cache(maxsize=8)
def _interface(xml: str):
    """The parsed config, once per config: parsing it per prediction made ``prepare`` of 10k
    tasks with predictions take ~35 s (3.6 ms each) of the 60 s budget."""
    from label_studio_sdk.label_interface import LabelInterface

    return LabelInterface(xml)


def validate_results(xml: str, results: list[dict], *, what: str, where: str) -> None:
    """Refuse a prediction's or annotation's ``result`` list that does not fit the config.

    Label Studio stores results that name unknown controls or choices; oma checks them first
    with LabelInterface and raises OmaError naming ``where`` (file/task) and the bad field.
    """
    li = _interface(xml)
    if not isinstance(results, list):
        raise OmaError(f"{where}: {what} field result must be a list, got {type(results).__name__}")
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise OmaError(f"{where}: {what} result[{i}] must be an object, got {type(r).__name__}")
        name = r.get("from_name")
        try:
            control = li.get_control(name)
        except Exception:
            control = None
        if control is None:
            raise OmaError(f"{where}: {what} result[{i}] field from_name={name!r} is not a control of the config")
        if r.get("to_name") not in control.to_name:
            raise OmaError(f"{where}: {what} result[{i}] ({name}) field to_name={r.get('to_name')!r} "
                           f"should be one of {control.to_name}")
        value = r.get("value") or {}
        if not isinstance(value, dict):
            raise OmaError(f"{where}: {what} result[{i}] ({name}) field value must be an object")
        for key in ("choices", "labels"):
            if key in value:
                if not isinstance(value[key], list):
                    raise OmaError(f"{where}: {what} result[{i}] ({name}) field value.{key} must be a list")
                # LabelInterface accepts two choices for a single-choice question; a label would not.
                if (key == "choices" and len(value[key]) > 1 and str(
                        (getattr(control, "attr", None) or {}).get("choice", "single")).startswith("single")):
                    raise OmaError(f"{where}: {what} result[{i}] ({name}) field value.choices has "
                                   f"{len(value[key])} choices for a single-choice question")
                allowed = set(control.labels or [])
                bad = [v for v in value[key] if v not in allowed]
                if bad:
                    raise OmaError(f"{where}: {what} result[{i}] ({name}) field value.{key} has "
                                   f"unknown {bad}; allowed {sorted(allowed)}")
    payload = {"result": results}
    ok = li.validate_prediction(payload) if what == "prediction" else li.validate_annotation(payload)
    if not ok:
        raise OmaError(f"{where}: {what} does not validate against the label config")
