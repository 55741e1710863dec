"""The secret test split and canaries.

A prompt's split is decided by HMAC-SHA256(key, "split\\0" + id): reproducible for whoever holds
the key (``OMA_SPLIT_KEY``), and without it nobody can tell which prompts are test prompts.
Each test prompt's canary is another HMAC of its id, so canaries cannot be guessed or forged
without the key, yet a scan needs only the list of canaries (or just their shape).

>>> key = b"k" * 32
>>> assign_split("p1", key, 0.3) == assign_split("p1", key, 0.3)
True
>>> CANARY_RE.fullmatch(canary_for("p1", key)) is not None
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.prompts.records import PromptRecord

KEY_ENV = "OMA_SPLIT_KEY"
CANARY_PREFIX = "OMA-CANARY-"
# 26 base32 characters = 130 bits of the HMAC: unguessable, and one regex finds them all.
CANARY_RE = re.compile(CANARY_PREFIX + r"[A-Z2-7]{26}")


def split_key(env: dict[str, str] | None = None) -> bytes:
    """The split key from the environment; an error (never the key) if it is unset or short.

    >>> split_key({"OMA_SPLIT_KEY": "a-long-enough-secret-key"})[:6]
    b'a-long'
    """
    val = (os.environ if env is None else env).get(KEY_ENV, "")
    if len(val) < 16:
        raise OmaError(f"environment variable {KEY_ENV}: must hold a secret of at least 16 characters")
    return val.encode("utf-8")


def _mac(key: bytes, purpose: str, prompt_id: str) -> bytes:
    return hmac.new(key, f"{purpose}\0{prompt_id}".encode(), hashlib.sha256).digest()


def assign_split(prompt_id: str, key: bytes, test_fraction: float) -> str:
    """'test' for about ``test_fraction`` of ids, else 'dev'; fixed for a given key.

    >>> 900 < sum(assign_split(str(i), b"x" * 16, 0.25) == "test" for i in range(4000)) < 1100
    True
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise OmaError(f"test fraction {test_fraction}: must be between 0 and 1")
    u = int.from_bytes(_mac(key, "split", prompt_id)[:8], "big") / 2**64
    return "test" if u < test_fraction else "dev"


def canary_for(prompt_id: str, key: bytes) -> str:
    """The canary string of one test prompt.

    >>> canary_for("a", b"k" * 16) != canary_for("b", b"k" * 16)
    True
    """
    import base64

    body = base64.b32encode(_mac(key, "canary", prompt_id)).decode("ascii")[:26]
    return CANARY_PREFIX + body


def key_fingerprint(key: bytes) -> str:
    """A short id of the key for release records (reveals nothing usable about the key).

    >>> len(key_fingerprint(b"k" * 16))
    12
    """
    return _mac(key, "fingerprint", "").hex()[:12]


@dataclass(frozen=True)
class Split:
    dev: list[PromptRecord]
    test: list[PromptRecord]


def split_records(records: Iterable[PromptRecord], key: bytes, test_fraction: float = 0.3) -> Split:
    """Assign each record; test records get their canary.

    >>> from oma_analysis.prompts.records import core_prompts
    >>> s = split_records(core_prompts(), b"k" * 16, 0.5)
    >>> all(r.canary for r in s.test) and not any(r.canary for r in s.dev)
    True
    """
    dev: list[PromptRecord] = []
    test: list[PromptRecord] = []
    for r in records:
        if assign_split(r.id, key, test_fraction) == "test":
            test.append(r.replace(split="test", canary=canary_for(r.id, key)))
        else:
            dev.append(r.replace(split="dev", canary=None))
    return Split(dev, test)


def record_release(log: str | Path, run_id: str, test_path: str | Path, records: list[PromptRecord],
                   key: bytes, test_fraction: float) -> dict:
    """Append who got the test prompts (run, file, count, hash, key fingerprint) to ``log``.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> record_release(os.path.join(d, "r.jsonl"), "run-1", "t.jsonl", [], b"k" * 16, 0.3)["n_test"]
    0
    """
    from oma_analysis.prompts.records import prompt_set_hash

    if not run_id.strip():
        raise OmaError("--release-test: the run id must not be empty")
    entry = {"run_id": run_id, "released_at": datetime.now(UTC).isoformat(), "test_file": str(test_path),
             "n_test": len(records), "prompt_set_hash": prompt_set_hash(records),
             "test_fraction": test_fraction, "key_fingerprint": key_fingerprint(key)}
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    return entry


def load_canaries(path: str | Path) -> set[str]:
    """Canaries from a file: a prompt JSONL (its ``canary`` fields) or one canary per line.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.txt")
    >>> _ = open(p, "w").write(canary_for("a", b"k" * 16) + "\\n")
    >>> len(load_canaries(p))
    1
    """
    out: set[str] = set()
    text = Path(path).read_text(encoding="utf-8")
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                c = json.loads(line).get("canary")
            except json.JSONDecodeError:
                raise OmaError(f"{path}:{n}: not valid JSON") from None
            if c:
                out.add(c)
        elif CANARY_RE.fullmatch(line):
            out.add(line)
        else:
            raise OmaError(f"{path}:{n}: not a canary string and not a JSON record")
    return out


@dataclass(frozen=True)
class Hit:
    line: int
    column: int
    canary: str
    known: bool  # in the given canary list (False when scanning by shape only)


def scan_lines(lines: Iterable[str], canaries: set[str] | None = None) -> Iterator[Hit]:
    """Canaries in text, line by line: one regex pass finds canary-shaped strings, then a set
    lookup keeps the listed ones (all of them when no list is given). Linear in the text size.

    >>> c = canary_for("x", b"k" * 16)
    >>> [h.line for h in scan_lines(["nothing", f"leak {c} here"], {c})]
    [2]
    """
    for n, line in enumerate(lines, 1):
        if CANARY_PREFIX not in line:  # fast path: most lines hold no canary at all
            continue
        for m in CANARY_RE.finditer(line):
            s = m.group(0)
            if canaries is None or s in canaries:
                yield Hit(n, m.start() + 1, s, canaries is not None)


def scan_file(path: str | Path, canaries: set[str] | None = None) -> list[Hit]:
    """Scan a text/JSONL file (model outputs, training data) for canaries.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "o.txt")
    >>> _ = open(p, "w").write("ok\\n")
    >>> scan_file(p)
    []
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return list(scan_lines(fh, canaries))
    except OSError as exc:
        raise OmaError(f"{path}: cannot read ({exc.strerror})") from None
