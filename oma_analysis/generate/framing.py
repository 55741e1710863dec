"""Elicitation variants and how a prompt is framed for the model.

A variant is a framing (``chat``: the request as a conversation; ``completion``: the same
information as a document whose continuation is the answer) and a sampling temperature. Neither
adds information about the task, so a much better output under another variant is evidence that
the model could have done better.

>>> [v.name for v in parse_variants("chat,completion,temp:0,completion+temp:1.0")]
['chat', 'completion', 'temp:0', 'completion+temp:1.0']
>>> parse_variants("temp:0.7")[0].temperature
0.7
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oma_analysis import OmaError

FRAMINGS = ("chat", "completion")
DEFAULT_VARIANTS = "chat,completion,temp:0,temp:0.7,temp:1.0"


@dataclass(frozen=True)
class Variant:
    name: str
    framing: str = "chat"
    temperature: float | None = None  # None: the run's default temperature


def parse_variants(spec: str) -> list[Variant]:
    """``chat``, ``completion``, ``temp:X`` (chat framing at temperature X), or framing+temp:X.

    >>> parse_variants("completion+temp:0")[0]
    Variant(name='completion+temp:0', framing='completion', temperature=0.0)
    """
    out: list[Variant] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        framing, temp = "chat", None
        for part in name.split("+"):
            if part in FRAMINGS:
                framing = part
            elif part.startswith("temp:"):
                try:
                    temp = float(part[5:])
                except ValueError:
                    raise OmaError(f"--variants: {name!r}: temperature {part[5:]!r} is not a number") from None
                if not 0.0 <= temp <= 2.0:
                    raise OmaError(f"--variants: {name!r}: temperature must be between 0 and 2")
            else:
                raise OmaError(f"--variants: {name!r}: expected chat, completion or temp:X (joined with +)")
        out.append(Variant(name, framing, temp))
    if len({v.name for v in out}) != len(out):
        raise OmaError(f"--variants: {spec!r} names a variant twice")
    if not out:
        raise OmaError("--variants: empty")
    return out


def transcript(messages: list[dict[str, str]]) -> str:
    """Plain ``User:/Assistant:`` transcript for chat framing without a chat template.

    >>> transcript([{"role": "user", "content": "Hi"}])
    'User: Hi\\n\\nAssistant:'
    """
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    turns = [f"{names[m['role']]}: {m['content'].strip()}" for m in messages]
    return "\n\n".join(turns) + "\n\nAssistant:"


TRANSCRIPT_STOP = ("\nUser:",)
DOCUMENT_STOP = ("\n\nRequest:", "\n\nQuestion:")


def document_prefix(messages: list[dict[str, str]]) -> str:
    """Completion framing: the same request as the start of a document (a page of expert answers)
    that the answer continues. Earlier turns and any system text are kept as context.

    >>> print(document_prefix([{"role": "user", "content": "Name a colour."}]))
    Below is a request, followed by an answer written by an expert who follows the request exactly.
    <BLANKLINE>
    Request:
    Name a colour.
    <BLANKLINE>
    Answer:
    <BLANKLINE>
    """
    head = "Below is a request, followed by an answer written by an expert who follows the request exactly."
    parts = [head]
    for m in messages[:-1]:
        label = {"system": "Context", "user": "Earlier request", "assistant": "Earlier answer"}[m["role"]]
        parts.append(f"{label}:\n{m['content'].strip()}")
    last = messages[-1]
    parts.append(f"Request:\n{last['content'].strip()}")
    return "\n\n".join(parts) + "\n\nAnswer:\n"


def chat_text(messages: list[dict[str, str]], tokenizer: Any) -> tuple[str, tuple[str, ...]]:
    """Chat framing for a local model: its chat template when the tokenizer has one, else the
    plain transcript. Returns the text and the stop strings that end the answer.

    >>> chat_text([{"role": "user", "content": "Hi"}], None)
    ('User: Hi\\n\\nAssistant:', ('\\nUser:',))
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        # transformers' own renderer (sandboxed jinja2 >= 3.1.6, the template's own features).
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text), ()
    return transcript(messages), TRANSCRIPT_STOP


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Cut generated text at the first stop string (base models run on into the next turn).

    >>> cut_at_stop("Blue.\\nUser: more", ("\\nUser:",))
    ('Blue.', True)
    """
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
