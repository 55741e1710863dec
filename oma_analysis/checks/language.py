"""Response-language check, with py3langid (PyPI ``py3langid``): an offline naive-Bayes language
identifier whose model (97 languages) ships inside the wheel.

Chosen over ``lingua-language-detector`` because it covers every language IFEval asks for (lingua
has no Kannada or Nepali), is a few MB instead of ~1 GB of n-gram tables in lingua's high-accuracy
mode, and classifies a paragraph in well under a millisecond (the backend runs checks per request).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from oma_analysis.checks.base import CheckResult, Span, checklist_item, paragraphs, span
from oma_analysis.rubric import RUBRIC

ITEM = checklist_item(RUBRIC.item_ids.correct_language)

# English names (and a few endonyms) of the languages py3langid knows, for prompts that say
# "respond in Hindi". Codes are ISO 639-1 as py3langid reports them.
_NAMES = {
    "afrikaans": "af", "albanian": "sq", "amharic": "am", "arabic": "ar", "armenian": "hy",
    "assamese": "as", "azerbaijani": "az", "basque": "eu", "belarusian": "be", "bengali": "bn",
    "bangla": "bn", "bosnian": "bs", "breton": "br", "bulgarian": "bg", "catalan": "ca",
    "chinese": "zh", "mandarin": "zh", "croatian": "hr", "czech": "cs", "danish": "da", "dutch": "nl",
    "english": "en", "esperanto": "eo", "estonian": "et", "faroese": "fo", "finnish": "fi",
    "french": "fr", "galician": "gl", "georgian": "ka", "german": "de", "greek": "el",
    "gujarati": "gu", "haitian": "ht", "hebrew": "he", "hindi": "hi", "hungarian": "hu",
    "icelandic": "is", "indonesian": "id", "irish": "ga", "italian": "it", "japanese": "ja",
    "javanese": "jv", "kannada": "kn", "kazakh": "kk", "khmer": "km", "korean": "ko", "kurdish": "ku",
    "kyrgyz": "ky", "lao": "lo", "latin": "la", "latvian": "lv", "lithuanian": "lt",
    "luxembourgish": "lb", "macedonian": "mk", "malagasy": "mg", "malay": "ms", "malayalam": "ml",
    "maltese": "mt", "marathi": "mr", "mongolian": "mn", "nepali": "ne", "norwegian": "no",
    "occitan": "oc", "oriya": "or", "odia": "or", "pashto": "ps", "persian": "fa", "farsi": "fa",
    "polish": "pl", "portuguese": "pt", "punjabi": "pa", "quechua": "qu", "romanian": "ro",
    "russian": "ru", "serbian": "sr", "sinhala": "si", "slovak": "sk", "slovenian": "sl",
    "slovene": "sl", "spanish": "es", "swahili": "sw", "swedish": "sv", "tagalog": "tl",
    "filipino": "tl", "tamil": "ta", "telugu": "te", "thai": "th", "turkish": "tr", "ukrainian": "uk",
    "urdu": "ur", "uyghur": "ug", "vietnamese": "vi", "welsh": "cy", "xhosa": "xh", "zulu": "zu",
}
_CODE_NAMES = {v: k.capitalize() for k, v in reversed(list(_NAMES.items()))}
_MIN_LETTERS = 20  # below this, n-gram language ID is a coin toss
# Code blocks, URLs and markdown markup carry no language signal and drag short texts to "en".
_NOISE = re.compile(r"```.*?```|`[^`]*`|https?://\S+|[*#_>|\[\]()]+", re.DOTALL)


def language_code(name: str) -> str | None:
    """ISO 639-1 code for an English language name ("Hindi" -> "hi"), None when unknown."""
    return _NAMES.get(name.strip().lower())


def language_name(code: str) -> str:
    return _CODE_NAMES.get(code, code)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _letters(text: str) -> int:
    # Letters and combining marks: Indic vowel signs are marks, not letters, but carry the script.
    return sum(unicodedata.category(ch)[0] in "LM" for ch in text)


def detect(text: str) -> tuple[str, float] | None:
    """(ISO code, probability) of the text's language; None when there is too little text."""
    clean = _NOISE.sub(" ", text)
    if _letters(clean) < _MIN_LETTERS:
        return None
    code, prob = _identifier().classify(clean)
    return str(code), float(prob)


def check_language(response: str, expected: str, instruction_id: str | None = None,
                   min_prob: float = 0.0) -> CheckResult | None:
    """Does the response read as ``expected`` (ISO code)? Evidence: the paragraphs detected as
    another language. Returns None when the response is too short to tell, or when the detector is
    less sure than ``min_prob`` of a language other than the expected one (callers checking a
    default expectation, not a stated one, pass a high ``min_prob`` to avoid false alarms)."""
    found = detect(response)
    if found is None:
        return None
    code, prob = found
    passed = code == expected
    if not passed and prob < min_prob:
        return None
    evidence: list[Span] = []
    if not passed:
        for p0, p1 in paragraphs(response):
            d = detect(response[p0:p1])
            if d is not None and d[0] != expected and d[1] >= 0.5:
                evidence.append(span(response, p0, p1, f"reads as {language_name(d[0])} ({d[1]:.2f}), "
                                                       f"expected {language_name(expected)}"))
        if not evidence:
            evidence.append(span(response, 0, len(response),
                                 f"reads as {language_name(code)} ({prob:.2f}), expected {language_name(expected)}"))
    return CheckResult("language.response", ITEM, passed, evidence, instruction_id,
                       {"expected": expected, "detected": code, "probability": round(prob, 3)})
