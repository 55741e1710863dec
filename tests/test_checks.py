"""The automatic capability checks: hand-written cases per check, the command, and IFEval."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from oma_analysis import OmaError
from oma_analysis.checks import (
    COVERED_INSTRUCTIONS,
    Constraint,
    check_bullet_count,
    check_capital_word_frequency,
    check_end_phrase,
    check_json,
    check_language,
    check_lowercase,
    check_nth_paragraph_first_word,
    check_paragraph_count,
    check_prompt_echo,
    check_record,
    check_refusal,
    check_repeat_prompt,
    check_self_repetition,
    check_sentence_count,
    check_uppercase,
    check_word_count,
    parse_prompt,
    prompt_from_messages,
    run_checks,
    sentences,
)
from oma_analysis.checks.ifeval import default_ifeval_dir, load_ifeval
from oma_analysis.cli import main
from oma_analysis.rubric import RUBRIC

CAPABLE = {i.id for i in RUBRIC.capable_items}


def _spans_ok(response: str, result) -> None:  # noqa: ANN001
    assert result.item in CAPABLE
    for s in result.evidence:
        assert 0 <= s.start < s.end <= len(response)
        assert response[s.start:s.end] == s.text


# ---- repetition ---------------------------------------------------------------------------------

def test_prompt_echo_flags_a_copied_prompt_and_spans_it() -> None:
    prompt = "Explain in two sentences why the sky appears blue during the day and red at sunset."
    response = "Sure. " + prompt + " The sky is blue because of Rayleigh scattering."
    res = check_prompt_echo(prompt, response)
    assert not res.passed
    _spans_ok(response, res)
    assert res.evidence[0].text.lower().startswith("explain in two sentences")


def test_prompt_echo_allows_restating_the_topic() -> None:
    prompt = "Write a template with less than 7 sentences for how to calculate the offset of an element in an array."
    response = "To calculate the offset of an element in an array, subtract the base address from its address."
    assert check_prompt_echo(prompt, response).passed


def test_repeat_prompt_instruction_requires_the_verbatim_opening() -> None:
    req = "Write a riddle about math."
    assert check_repeat_prompt(req, req + "\n\nWhat has digits but no hands?").passed
    assert check_repeat_prompt(req, '"' + req + '"\n\nA riddle.').passed  # quoted still counts
    bad = check_repeat_prompt(req, "A riddle about math: what has digits?")
    assert not bad.passed and bad.evidence


def test_ngram_loop_is_caught_with_its_span() -> None:
    response = "The answer is simple. " + "I will go to the market. " * 6 + "Done."
    res = check_self_repetition(response)
    assert not res.passed
    _spans_ok(response, res)
    loop = [s for s in res.evidence if "copies" in s.note and "sentence" not in s.note]
    assert loop and loop[0].text.startswith("I will go") and loop[0].end > 22 + 5 * 25


def test_self_repetition_passes_varied_text_and_refrains_when_allowed() -> None:
    varied = "Cats sleep a lot. Dogs like walks in the park. Birds sing at dawn every day."
    assert check_self_repetition(varied).passed
    refrain = "We sing all night under the stars tonight."
    verses = ["The road is long and dusty.", "My shoes are worn right through.", "The rain came down on Monday.",
              "And still I think of you."]
    chorus = "\n\n".join(f"{v}\n\n{refrain}" for v in verses)
    res = check_self_repetition(chorus)
    assert not res.passed and len(res.evidence) == 3  # the 2nd..4th copies
    assert check_self_repetition(chorus, allow_repeats=True).passed
    assert not check_self_repetition(refrain * 4, allow_repeats=True).passed  # a loop is still a loop
    # A song prompt switches repeated-sentence failure off, but not the loop test.
    rep = run_checks("Write a song about the sea.", chorus)
    assert next(c for c in rep.checks if c.check_id == "repetition.self").passed


# ---- language -----------------------------------------------------------------------------------

def test_language_check_uses_the_detector_and_marks_wrong_paragraphs() -> None:
    response = ("Der Hund läuft schnell durch den großen Park und spielt mit den Kindern.\n\n"
                "The dog runs quickly through the big park and plays with the children all day long.")
    de = check_language(response.split("\n\n")[0], "de")
    assert de is not None and de.passed and de.detail["detected"] == "de"
    res = check_language(response, "fr")
    assert res is not None and not res.passed
    _spans_ok(response, res)
    assert len(res.evidence) == 2  # both paragraphs are not French
    assert check_language("Ok.", "fr") is None  # too short to tell


def test_default_language_is_the_prompts_own() -> None:
    prompt = "Explique-moi pourquoi le ciel est bleu pendant la journée, s'il te plaît."
    rep = run_checks(prompt, "The sky is blue because air molecules scatter blue light more than red light.")
    lang = [c for c in rep.checks if c.check_id == "language.response"]
    assert lang and not lang[0].passed and lang[0].detail["expected"] == "fr"
    # A translation request switches the default off.
    rep2 = run_checks("Translate into English: le ciel est bleu pendant la journée.", "The sky is blue by day.")
    assert not [c for c in rep2.checks if c.check_id == "language.response"]


# ---- counts -------------------------------------------------------------------------------------

def test_word_count_relations_and_evidence() -> None:
    text = "one two three four five six"
    assert check_word_count(text, "less than", 7).passed
    over = check_word_count(text, "less than", 5)
    assert not over.passed and over.evidence[0].text == "five six"  # words past the limit
    assert check_word_count("don't stop-now", "exactly", 2).passed  # contractions count once
    under = check_word_count(text, "at least", 10)
    assert not under.passed and under.detail["count"] == 6


def test_sentence_splitting_and_count() -> None:
    text = "Dr. Smith arrived at 3.5 p.m. today. He sat down!\n\n1. First item.\n2. Second item"
    got = [text[a:b] for a, b in sentences(text)]
    assert got == ["Dr. Smith arrived at 3.5 p.m. today.", "He sat down!", "First item.", "Second item"]
    song = "(Verse 1)\nOh, we need a place,\nA playground so grand!\n\n(Chorus)\nLet us build it."
    assert len(sentences(song)) == 2  # labels don't count; verse lines run on to the full stop
    res = check_sentence_count(text, "less than", 3)
    assert not res.passed and res.evidence[0].text.startswith("First item")


def test_paragraph_counts() -> None:
    stars = "Para one.\n***\nPara two.\n***\nPara three."
    assert check_paragraph_count(stars, 3).passed
    assert not check_paragraph_count(stars, 2).passed
    blank = "Alpha one.\n\nBeta two.\n\nGamma three."
    assert check_paragraph_count(blank, 3, separator="blank").passed
    assert check_nth_paragraph_first_word(blank, 3, 2, "beta").passed
    wrong = check_nth_paragraph_first_word(blank, 3, 2, "gamma")
    assert not wrong.passed and wrong.evidence[-1].text == "Beta"


def test_bullet_count_ignores_bold_and_rules() -> None:
    text = "**Title**\n\n* one\n* two\n- three\n---\n"
    assert check_bullet_count(text, 3).passed
    res = check_bullet_count(text, 2)
    assert not res.passed and res.evidence[0].text.startswith("- three")
    assert not check_bullet_count("1. a\n2. b", 2).passed  # numbered lines are not bullets


# ---- format -------------------------------------------------------------------------------------

def test_case_checks() -> None:
    assert check_lowercase("all lower, 123.").passed
    low = check_lowercase("all lower but One word")
    assert not low.passed and [s.text for s in low.evidence] == ["One"]
    assert check_uppercase("ALL CAPS HERE!").passed
    assert not check_uppercase("ALL CAPS but").passed
    caps = check_capital_word_frequency("I saw THE BIG dog. A cat.", 2, "at least")
    assert caps.passed and caps.detail["count"] == 2  # "I" and "A" are not all-caps words
    assert not check_capital_word_frequency("WOW SUCH CAPS", 3, "less than").passed


def test_json_check() -> None:
    assert check_json('{"a": [1, 2]}').passed
    assert check_json('```json\n{"a": 1}\n```').passed
    bad = '{"a": 1,\n "b": }'
    res = check_json(bad)
    assert not res.passed
    _spans_ok(bad, res)
    assert res.evidence[0].start == bad.index("}")


def test_end_phrase() -> None:
    phrase = "Is there anything else I can help with?"
    assert check_end_phrase("Done. " + phrase + "\n", phrase).passed
    res = check_end_phrase(phrase + "\n\nBest,\nMe", phrase)
    assert not res.passed
    assert res.evidence[0].note.startswith("end phrase present") and res.evidence[-1].text == "Me"


# ---- refusal ------------------------------------------------------------------------------------

def test_refusal_of_benign_request() -> None:
    res = check_refusal("Write a poem about cats.", "I'm sorry, but I can't help with that request.")
    assert res is not None and not res.passed and res.item == "clarify_or_idk"
    assert check_refusal("Write a poem about cats.", "Cats are soft. They purr.").passed
    # Admitting a limit is not a refusal; a harmful prompt is not benign.
    assert check_refusal("Next train to London?", "As an AI, I don't have real-time access to timetables.").passed
    assert check_refusal("How do I build a bomb?", "I can't help with that.") is None


# ---- constraints --------------------------------------------------------------------------------

@pytest.mark.parametrize(("prompt", "iid", "kwargs"), [
    ("Answer in at most 50 words.", "length_constraints:number_words", {"relation": "at most", "num_words": 50}),
    ("Write a 300+ word summary.", "length_constraints:number_words", {"relation": "at least", "num_words": 300}),
    ("Use fewer than five sentences.", "length_constraints:number_sentences",
     {"relation": "less than", "num_sentences": 5}),
    ("Write 4 paragraphs separated by the markdown divider ***", "length_constraints:number_paragraphs",
     {"relation": "exactly", "num_paragraphs": 4, "separator": "***"}),
    ("Please respond only in Hindi.", "language:response_language", {"language": "hi"}),
    ("Write it all in lowercase letters.", "change_case:english_lowercase", {}),
    ("Your answer must be in all capital letters.", "change_case:english_capital", {}),
    ("Wrap the entire output in JSON format.", "detectable_format:json_format", {}),
    ("Give exactly 3 bullet points.", "detectable_format:number_bullet_lists", {"num_bullets": 3}),
    ('Finish your response with the exact phrase "Any other questions?"', "startend:end_checker",
     {"end_phrase": "Any other questions?"}),
])
def test_parse_prompt(prompt: str, iid: str, kwargs: dict) -> None:
    found = {c.instruction_id: c.kwargs for c in parse_prompt(prompt)}
    assert found.get(iid) == kwargs


def test_parse_prompt_ignores_unconstrained_text() -> None:
    assert parse_prompt("Explain what JSON is and why people like lowercase URLs.") == []
    assert "change_case:english_capital" not in {
        c.instruction_id for c in parse_prompt("Use words with all capital letters less than 5 times.")}


def test_record_constraints_override_prompt_parsing() -> None:
    rec = {"prompt": "Answer in all lowercase.", "response": "HELLO, THE WEATHER IS LOVELY TODAY.",
           "instruction_id_list": ["change_case:english_capital", "keywords:existence"],
           "kwargs": [{}, {"keywords": ["rain"]}]}
    rep = check_record(rec)
    assert rep.instructions == [("change_case:english_capital", True), ("keywords:existence", False)]
    assert "case.lower" not in {c.check_id for c in rep.checks}


@pytest.mark.parametrize(("rec", "field"), [
    ({"prompt": "p"}, "response"),
    ({"prompt": 1, "response": "r"}, "prompt"),
    ({"prompt": "p", "response": "r", "instruction_id_list": "x"}, "instruction_id_list"),
    ({"prompt": "p", "response": "r", "instruction_id_list": ["a"], "kwargs": [{}, {}]}, "kwargs"),
    ({"prompt": "p", "response": "r", "instruction_id_list": ["length_constraints:number_words"],
      "kwargs": [{"relation": "at least"}]}, "kwargs"),
])
def test_bad_records_name_the_field(rec: dict, field: str) -> None:
    with pytest.raises(OmaError, match=rf"f\.jsonl line 7: field '{field}'"):
        check_record(rec, where="f.jsonl line 7")


# ---- the command --------------------------------------------------------------------------------

def test_oma_checks_command(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "r.jsonl"
    recs = [{"prompt": "Reply in all lowercase.", "response": "Fine, Thanks"},
            {"prompt": "x", "response": "ALL IS GOOD HERE, THANK YOU FOR ASKING", "instruction_id_list":
             ["change_case:english_capital", "punctuation:no_comma"], "kwargs": [{}, {}]}]
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    out = CliRunner().invoke(main, ["checks", str(f), "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(x) for x in out.output.splitlines()]
    assert len(lines) == 2 and "instructions" not in lines[0]
    lower = next(c for c in lines[0]["checks"] if c["check_id"] == "case.lower")
    assert lower["passed"] is False and {e["text"] for e in lower["evidence"]} == {"Fine", "Thanks"}
    assert set(lower) >= {"check_id", "passed", "evidence", "item"}
    assert lines[1]["instructions"] == [{"instruction_id": "change_case:english_capital", "followed": True},
                                        {"instruction_id": "punctuation:no_comma", "followed": False}]
    f.write_text(json.dumps(recs[0]) + "\n{not json\n")
    bad = CliRunner().invoke(main, ["checks", str(f), "--json"])
    assert bad.exit_code == 2 and "r.jsonl line 2" in bad.output


# ---- IFEval -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ifeval(shared_dir: Path) -> list[dict]:
    d = default_ifeval_dir(shared_dir)
    assert d.is_dir(), f"IFEval data expected at {d}"
    return load_ifeval(d)


def test_ifeval_coverage_and_fire_rates(ifeval: list[dict]) -> None:
    assert len(ifeval) >= 540
    per: dict[str, Counter] = {}
    fired, ran = Counter(), Counter()
    for rec in ifeval:
        rep = check_record(rec)
        for iid, followed in rep.instructions:
            per.setdefault(iid, Counter())[followed] += 1
        for c in rep.checks:
            if c.instruction_id is None:
                ran[c.check_id] += 1
                fired[c.check_id] += not c.passed
    for iid, c in per.items():
        n = sum(c.values())
        if iid in COVERED_INSTRUCTIONS:
            assert c[None] <= 0.05 * n, (iid, c)  # covered types are decided
        else:
            assert c[None] == n, (iid, c)
    # GPT-4 follows most format instructions but is known to miss lengths often (IFEval paper).
    followed = lambda iid: per[iid][True] / sum(per[iid].values())  # noqa: E731
    assert followed("detectable_format:json_format") == 1.0
    assert followed("change_case:english_lowercase") >= 0.9
    assert 0.5 <= followed("length_constraints:number_words") <= 0.9
    assert 0.5 <= followed("length_constraints:number_sentences") <= 0.9
    # The always-on checks rarely fire on GPT-4's (good) answers ...
    for cid in ("repetition.prompt_echo", "repetition.self", "refusal.benign", "language.response"):
        assert ran[cid] >= 400 and fired[cid] <= 0.02 * ran[cid], (cid, ran[cid], fired[cid])


def test_ifeval_corruptions_are_caught(ifeval: list[dict]) -> None:
    """... and do fire when the same answers are broken the way weak models break them."""
    caught, n = Counter(), Counter()
    for rec in ifeval[:200]:
        resp = rec["response"]
        sents = sentences(resp)
        if len(sents) < 4:
            continue
        corrupt = {
            "loop": resp[:sents[1][1]] + (" " + resp[sents[1][0]:sents[1][1]]) * 5,
            "echo": rec["prompt"] + "\n\n" + resp,
        }
        for kind, text in corrupt.items():
            rep = run_checks(rec["prompt"], text, [])
            n[kind] += 1
            caught[kind] += any(not c.passed and c.check_id.startswith("repetition") for c in rep.checks)
        for iid, kw in zip(rec["instruction_id_list"], rec["kwargs"], strict=True):
            if iid == "change_case:english_lowercase":
                rep = run_checks(rec["prompt"], resp.upper(), [Constraint(iid, kw)])
                n["case"] += 1
                caught["case"] += rep.instructions[0][1] is False
    for kind in ("loop", "echo"):
        assert n[kind] >= 100 and caught[kind] >= 0.95 * n[kind], (kind, caught[kind], n[kind])
    assert n["case"] >= 5 and caught["case"] == n["case"]


def test_prompt_from_messages_takes_the_user_turns() -> None:
    msgs = [{"role": "system", "content": "Always answer in UPPERCASE."},
            {"role": "user", "content": "Say hi in all lowercase."}]
    prompt = prompt_from_messages(msgs)
    assert prompt == "Say hi in all lowercase."
    assert [c.instruction_id for c in run_checks(prompt, "hi").constraints] == ["change_case:english_lowercase"]
