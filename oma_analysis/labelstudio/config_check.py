"""Validate Label Studio configs, predictions and annotations before they reach Label Studio.

Three layers, because each catches what the others miss: our own structural pass (names the tag
and line for missing ``toName`` targets, duplicate names, dangling ``whenTagName``), the SDK's
``LabelInterface``, and Label Studio's own ``validate_label_config`` (needs Django, so it is
imported lazily and configured for a throw-away data dir).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import secrets
import sys
import tempfile
import warnings
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


def _django_validate(xml: str) -> None:
    """Label Studio's own validator; raises its ValidationError."""
    import label_studio

    if "django" not in sys.modules or not os.environ.get("DJANGO_SETTINGS_MODULE"):
        sys.path.insert(0, os.path.dirname(label_studio.__file__))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
        os.environ.setdefault("LABEL_STUDIO_BASE_DATA_DIR", tempfile.mkdtemp(prefix="oma-lscheck-"))
        os.environ.setdefault("LATEST_VERSION_CHECK", "false")
        os.environ.setdefault("COLLECT_ANALYTICS", "false")
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))  # throw-away settings only
        import django

        # Label Studio's settings print banners and warnings while loading; keep them out of
        # the command's output, which users read for the verdict on their configs.
        with (contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
            try:
                django.setup()
            finally:
                logging.disable(logging.NOTSET)
    from label_studio.core.label_config import validate_label_config

    validate_label_config(xml)


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
        try:
            _django_validate(xml)
        except Exception as exc:
            detail = getattr(exc, "detail", exc)
            problems.append(ConfigProblem(source, "label_studio.validate_label_config", str(detail)))
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
