"""Read IFEval's prompts joined with GPT-4's responses (``<shared>/datasets/ifeval/``, read in place)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.locations import dataset_dir

PROMPTS_FILE = "input_data.jsonl"
RESPONSES_FILE = "input_response_data_gpt4_20231107_145030.jsonl"


def default_ifeval_dir(shared: str | Path | None = None) -> Path:
    """``$OMA_IFEVAL_DIR``, else ``datasets/ifeval`` in the shared data folder (``shared`` or
    ``$OMA_SHARED_DIR``: :func:`oma_analysis.locations.shared_dir`)."""
    env = os.environ.get("OMA_IFEVAL_DIR")
    return Path(env) if env else dataset_dir("ifeval", shared)


def load_ifeval(data_dir: Path | None = None) -> list[dict[str, Any]]:
    """IFEval records (``key, prompt, instruction_id_list, kwargs``) with ``response`` added: GPT-4's
    answer to the same prompt text. Prompts without a response are left out."""
    d = Path(data_dir) if data_dir is not None else default_ifeval_dir()
    responses: dict[str, str] = {}
    try:
        for no, line in enumerate((d / RESPONSES_FILE).open(encoding="utf-8"), 1):
            r = json.loads(line)
            if not isinstance(r.get("prompt"), str) or not isinstance(r.get("response"), str):
                raise OmaError(f"{d / RESPONSES_FILE} line {no}: fields 'prompt' and 'response' must be strings")
            responses[r["prompt"]] = r["response"]
        out = []
        for line in (d / PROMPTS_FILE).open(encoding="utf-8"):
            r = json.loads(line)
            if r.get("prompt") in responses:
                out.append({**r, "response": responses[r["prompt"]]})
    except OSError as exc:
        raise OmaError(f"{d}: cannot read the IFEval files ({exc.strerror})") from exc
    return out
