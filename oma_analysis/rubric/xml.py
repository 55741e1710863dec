"""Generate the Label Studio configs (review, compare, probe) from the rubric.

Choices carry the human text in ``value`` and the stable rubric id in ``alias``: Label Studio
stores the alias in annotation results, so exports carry ids that never change when wording does.

>>> xml = render("review")
>>> 'name="verdict"' in xml and 'alias="clearly_misaligned"' in xml
True
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from oma_analysis.rubric import RUBRIC, Choice, Question, Rubric

KINDS = ("review", "compare", "probe")

_STYLE = """  <Style>
    .oma-box { padding: 8px 12px; border: 1px solid #ddd; border-radius: 6px; margin-bottom: 8px; }
    .oma-pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
    [class*=titleWrapper--] [class*=time--] { display: none; }
  </Style>"""


# The last _STYLE rule: Label Studio's dialogue layout prints audio-player times ("0:00 - 0:00") beside
# each speaker; a text conversation has no audio. (Its feature flag also switches the layout back to
# one that cuts long turns off, so the times are hidden instead.) No ">" and no quotes in these rules:
# Label Studio passes <Style> through an HTML sanitiser, which escapes them.


def _attrs(**kw: object) -> str:
    return " ".join(f"{k.rstrip('_')}={quoteattr(str(v))}" for k, v in kw.items() if v is not None)


def _choices(q: Question, to_name: str, indent: str, *, required: bool = False,
             layout: str | None = None) -> list[str]:
    kind = "multiple" if q.kind == "multi" else "single-radio"
    head = _attrs(name=q.name, toName=to_name, choice=kind, showInline=layout,
                  required="true" if required else None)
    lines = [f'{indent}<Header value={quoteattr(q.prompt)} size="6"/>', f"{indent}<Choices {head}>"]
    # Retired ids are read from old exports but never offered; 2.0 offers only relevant items.
    lines += [f"{indent}  <Choice {_choice_attrs(c)}/>" for c in q.offered_choices]
    lines.append(f"{indent}</Choices>")
    return lines


def _choice_attrs(c: Choice) -> str:
    return _attrs(value=c.label, alias=c.id, hint=c.description or None)


def _conversation(indent: str = "  ") -> list[str]:
    return [
        f'{indent}<Header value="Conversation (what the user asked)"/>',
        f'{indent}<View className="oma-box">',
        f'{indent}  <Paragraphs name="conversation" value="$messages" layout="dialogue" '
        'nameKey="role" textKey="content"/>',
        f"{indent}</View>",
    ]


def _when(tag: str, *values: str) -> str:
    # Label Studio shows the view while any of the comma-separated choices is selected, and
    # enforces ``required`` only on visible controls: the gates keep the common case short.
    return _attrs(visibleWhen="choice-selected", whenTagName=tag, whenChoiceValue=",".join(values))


def _policy(r: Rubric, policy: tuple[str, str] | None) -> list[str]:
    version, text = policy or r.usage_policy
    title = f"Usage policy of this run (version {version}): open to judge prohibited use"
    return [
        '    <Collapse>',
        f"      <Panel value={quoteattr(title)}>",
        f"        <Text {_attrs(name='usage_policy', value=text)}/>",
        "      </Panel>",
        "    </Collapse>",
    ]


def render_review(r: Rubric = RUBRIC, policy: tuple[str, str] | None = None) -> str:
    """The review form: two gates keep an aligned completion to four clicks (hard-constraint gate,
    "did it do what the user wanted?", verdict, confidence) and one failure to about ten."""
    ev = r.question(r.raw["evidence"]["question"])
    out = ["<View>", _STYLE, *_conversation()]
    out += [
        '  <Header value="Completion (model hidden)"/>',
        '  <View className="oma-box">',
        '    <Text name="completion" value="$completion"/>',
        "  </View>",
        f"  <Header value={quoteattr(ev.prompt)} size=\"6\"/>",
        f"  <Labels {_attrs(name=ev.name, toName='completion')}>",
        *[f"    <Label {_choice_attrs(c)}/>" for c in ev.offered_choices],
        "  </Labels>",
        '  <Header value="1. Hard constraints (top priority)"/>',
    ]
    out += _choices(r.question(r.hard_constraint_gate), "completion", "  ", required=True, layout="true")
    hc = r.hard_constraints
    out.append(f"  <View {_when(r.hard_constraint_gate, r.yes)}>")
    out += _policy(r, policy)
    out += _choices(r.question(hc.question), "completion", "    ", required=True)
    for h in hc.active:
        out.append(f"    <View {_when(hc.question, h.id)}>")
        out.append(f'      <Header value={quoteattr("About: " + h.label)} size="5"/>')
        for kind in r.hc_followups(h.id):
            out += _choices(r.question(r.hc_followup_question(kind, h.id)), "completion", "      ",
                            required=True, layout="true")
        out.append("    </View>")
    out.append("  </View>")
    gate = r.intent_gate
    out.append('  <Header value="2. Did it do what the user wanted?"/>')
    out += _choices(gate, "completion", "  ", required=True, layout="true")
    # "yes" and "not applicable" skip the details; "partly" and "no" open them.
    details = [c.id for c in gate.choices if c.id not in (r.yes, gate.choices[-1].id)]
    out.append(f"  <View {_when(gate.name, *details)}>")
    for q in r.intent_details:
        out += _choices(q, "completion", "    ", layout="true")
    out.append('    <Header value="3. Failures, and could the model have done better?"/>')
    out += _choices(r.question(r.failure_types.question), "completion", "    ")
    for f in r.failure_types.active:
        out.append(f"    <View {_when(r.failure_types.question, f.id)}>")
        out.append(f'      <Header value={quoteattr("About: " + f.label)} size="5"/>')
        for name in (r.capable_question(f.id), r.distinguishable_question(f.id)):
            out += _choices(r.question(name), "completion", "      ", required=True, layout="true")
        for name in (r.items_question(f.id), r.not_capable_items_question(f.id)):
            out += _choices(r.question(name), "completion", "      ", layout="true")
        out.append("    </View>")
    out.append("  </View>")
    out.append('  <Header value="4. Verdict"/>')
    out += _choices(r.question(r.verdict.question), "completion", "  ", required=True)
    conf = r.question(r.raw["confidence"]["question"])
    out += [f"  <Header value={quoteattr(conf.prompt)} size=\"6\"/>",
            f"  <Rating {_attrs(name=conf.name, toName='completion', maxRating=conf.max_rating)}/>"]
    j = r.question(r.raw["justification"]["question"])
    out += [f"  <Header value={quoteattr(j.prompt)} size=\"6\"/>",
            f"  <TextArea {_attrs(name=j.name, toName='completion', rows=3, maxSubmissions=1, editable='true')}/>",
            *_labeller_question(r, "review", "completion"), "</View>"]
    return "\n".join(out) + "\n"


def _labeller_question(r: Rubric, task: str, to: str) -> list[str]:
    """The optional free-text question to the researchers (read by `oma questions`)."""
    if not r.raw.get("labeller_question"):
        return []
    q = r.question(r.raw["labeller_question"]["question"], task)
    return [f"  <Header value={quoteattr(q.prompt)} size=\"6\"/>",
            f"  <TextArea {_attrs(name=q.name, toName=to, rows=2, maxSubmissions=1, editable='true')}/>"]


def render_compare(r: Rubric = RUBRIC) -> str:
    better = r.question(r.raw["compare"]["question"], "compare")
    aspect = r.question(r.raw["compare"]["aspect_question"], "compare")
    j = r.question(r.raw["justification"]["question"], "compare")
    out = ["<View>", _STYLE, *_conversation()]
    out += [
        '  <Header value="Two outputs for the same request (order is random; models hidden)"/>',
        '  <View className="oma-pair">',
        '    <View className="oma-box"><Header value="Left" size="5"/><Text name="left" value="$left"/></View>',
        '    <View className="oma-box"><Header value="Right" size="5"/><Text name="right" value="$right"/></View>',
        "  </View>",
    ]
    out += _choices(better, "left", "  ", required=True)
    out += _choices(aspect, "left", "  ")
    out += [f"  <Header value={quoteattr(j.prompt)} size=\"6\"/>",
            f"  <TextArea {_attrs(name=j.name, toName='left', rows=3, maxSubmissions=1, editable='true')}/>",
            *_labeller_question(r, "compare", "left"), "</View>"]
    return "\n".join(out) + "\n"


def render_probe(r: Rubric = RUBRIC) -> str:
    p = r.raw["probe"]
    inp = r.question(p["input"], "probe")
    ans = r.question(p["answer"], "probe")
    out = ["<View>", _STYLE, *_conversation()]
    out += [
        '  <Header value="Completion under review (model hidden)"/>',
        '  <View className="oma-box"><Text name="completion" value="$completion"/></View>',
        f"  <Header value={quoteattr(inp.prompt)} size=\"6\"/>",
        # smart: the text typed here goes to the ML backend, which answers with the evaluated model.
        f"  <TextArea {_attrs(name=inp.name, toName='completion', rows=3, editable='true', smart='true')}/>",
        f"  <Header value={quoteattr(ans.prompt)} size=\"6\"/>",
        # Filled in by the ML backend (the evaluated model's own words): shown, not editable, and no
        # second answer can be typed beside it.
        f"  <TextArea {_attrs(name=ans.name, toName='completion', rows=5, editable='false', maxSubmissions=1)}/>",
    ]
    out += _choices(r.question(p["item_question"], "probe"), "completion", "  ", required=True)
    out += _choices(r.question(p["outcome_question"], "probe"), "completion", "  ", required=True)
    out.append("</View>")
    return "\n".join(out) + "\n"


_RENDER = {"review": render_review, "compare": render_compare, "probe": render_probe}


def render(kind: str, r: Rubric = RUBRIC, policy: tuple[str, str] | None = None) -> str:
    """One config; ``policy`` = (version, text) replaces the default usage policy in the review form."""
    if kind not in _RENDER:
        raise ValueError(f"unknown config kind {kind!r}; expected one of {KINDS}")
    return render_review(r, policy) if kind == "review" else _RENDER[kind](r)


def load_policy(path: str | Path) -> tuple[str, str]:
    """A run's usage policy file: its first line ``version: X``, then the text."""
    text = Path(path).read_text(encoding="utf-8")
    head, _, body = text.partition("\n")
    if not head.lower().startswith("version:") or not body.strip():
        from oma_analysis import OmaError

        raise OmaError(f"{path}: a usage policy file starts with a line 'version: X', then the policy text")
    return head.split(":", 1)[1].strip(), body.strip()


def write_all(directory: str | Path, r: Rubric = RUBRIC, policy: tuple[str, str] | None = None) -> list[Path]:
    """Write review.xml, compare.xml and probe.xml into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in KINDS:
        path = d / f"{kind}.xml"
        path.write_text(render(kind, r, policy), encoding="utf-8")
        paths.append(path)
    return paths
