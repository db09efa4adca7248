"""Sentences of an abstract: split, judged for what they say, shortened at clause boundaries.

Used by the offline writer (`offline_writer`) to choose, for each paper, the sentence that
states its contribution or its main result. Splitting is sentencex's (rule-based, compiled,
about 0.1 ms an abstract) with the abbreviations of papers protected first: sentencex keeps
"e.g.", "et al.", "vs." and decimals together but would end a sentence at "Eq. (3)",
"Thm. 1" or "approx. 3,000". Shortening never cuts inside a clause: it drops whole
parentheticals, asides between commas and trailing clauses, and what is left is a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sentencex

from newsletter.core.text import HAN

# Abbreviations that papers put before a number, a reference or a lower-case word.
_ABBREVIATION = re.compile(
    r"\b(Figs?|Eqs?|Secs?|Tabs?|Thm|Thms|Lem|Def|Prop|Cor|Alg|App|Ch|Refs?|Nos?|Vol|pp|"
    r"approx|resp|cf|ca|vs|viz|incl|w\.r\.t|i\.e|e\.g|et al)\.(?=\s*[\w(\[$])", re.IGNORECASE)
_MATH = re.compile(r"\$[^$]{1,200}\$")
_DOT = "\ue021"  # stands for a protected period while sentencex reads the text
_END = re.compile(r"[.!?。！？]$")
WORD = re.compile(r"[^\W_]+(?:[-'’.][^\W_]+)*", re.UNICODE)

# What a sentence says, from its words. Cues are lower-case substrings or word patterns.
# What the authors did, said in the first person ("we distil", "we also propose") or by the
# paper itself ("this paper studies"); not what they hope, believe or discuss.
CONTRIBUTION = re.compile(
    r"\b(?:we|this (?:paper|work|study|article|letter|survey|review))"
    r"(?: (?:\w+ly|also|further|then|first|here|now))* "
    r"(?!(?:are|were|is|was|have|had|do|did|can|could|will|would|may|might|should|must|"
    r"hope|believe|note|discuss|thank|refer|call)\b)[a-z]", re.I)
RESULT = re.compile(
    r"\b(?:achiev|outperform|improv|reduc|surpass|exceed|reach|yield|boost|rais|lower|"
    r"increas|decreas|recover|match|speed|faster|cut|gain|accura|state[- ]of[- ]the[- ]art|"
    r"drops?|rises?|preferred|detect|solv|closes?)", re.I)
MEASURE = re.compile(
    r"\d(?:[\d,.]*\d)?\s*(?:%|×|x\b|dB|fps|FPS|Hz|ms|s\b|min|hours?|points?|pp\b|[KMB]\b|"
    r"GB|MB|TB|Å|nm|mm|km|AUC|AUROC|F1|BLEU|PSNR|SSIM|LPIPS|FID|mAP|mIoU|Dice|RMSE|"
    r"times|fold|residues|parameters)|(?:AUC|AUROC|F1|BLEU|PSNR|SSIM|LPIPS|FID|mAP|mIoU|"
    r"Dice|RMSE|accuracy|correlation|ρ|win rate)\D{0,24}\d", re.I)
BACKGROUND = re.compile(
    r"\b(?:has|have) (?:been|become|emerged|shown|achieved|attracted|gained|seen|made|"
    r"advanced)|\brecent(?:ly)?\b|\bremains?\b|\bhowever\b|\byet\b|\bchalleng|\bexisting\b|"
    r"\bprior (?:work|approaches|methods)|\bprevious (?:work|methods|approaches)|"
    r"\btraditional\b|\bconventional\b|\btypically\b|\busually\b|\boften\b|\bwidely\b|"
    r"\bis (?:crucial|essential|important|key|central)|\bplays? an?\b|\bpopular\b|\bdespite\b|"
    r"\bsuffers?\b|\black of\b|\blittle is known\b|\bless is known\b|\bpoorly understood\b|"
    r"\bopen (?:question|problem)|\bare known\b|\bis known\b|\blimit(?:s|ed|ation)\b|"
    r"\bexpensive\b|\bcostly\b|\bhard\b|\bdifficult\b|\bunclear\b|\bgoal\b|\bcommon\b|"
    r"\bcurrent (?:methods|models|approaches|systems|techniques|work)\b", re.I)
BOILERPLATE = re.compile(
    r"\b(?:code|data|models?|benchmark|implementation|dataset)s? (?:and \w+ )?(?:is|are|will "
    r"be) (?:publicly )?(?:available|released|open)|\bavailable at\b|\bgithub\b|"
    r"\bwe hope\b|\bfuture (?:work|research)\b|\binspire\b|\bwe discuss\b|\bsee fig|"
    r"\bunder way\b|\bwe release\b", re.I)
# Sentences that lean on the one before them ("It ...", "These results ...") read badly alone.
# Also a pronoun subject right after a short opener: "On RealEstate10K it outperforms ...".
ANAPHORIC = re.compile(r"^(?:[^\s,]+\s+){0,3}?(?:it|its|they|their|this|these|those|such|"
                       r"both|the latter|the former)\b(?! (?:paper|work|study|article|letter|"
                       r"survey)\b)", re.I)


@dataclass(frozen=True)
class Judged:
    text: str
    index: int  # position in the abstract
    contribution: bool
    result: bool  # says what the work achieved, with a number
    background: bool
    boilerplate: bool
    anaphoric: bool


def split(text: str) -> list[str]:
    """The sentences of `text`, each as written (abbreviations, decimals and math intact)."""
    text = " ".join((text or "").split())
    if not text:
        return []
    return list(_split(text))


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[str, ...]:
    guarded = _MATH.sub(lambda m: m.group(0).replace(".", _DOT), text)
    guarded = _ABBREVIATION.sub(lambda m: m.group(1).replace(".", _DOT) + _DOT, guarded)
    out = []
    for part in sentencex.segment("en", guarded):
        part = part.replace(_DOT, ".").strip()
        if len(part) > 1:
            out.append(part)
    return tuple(out)


_CJK = re.compile(f"[{HAN}]+")  # Chinese characters (core.text)


def words(text: str) -> int:
    """Words as a reader counts them: Latin words, and Chinese at two characters a word."""
    runs = _CJK.findall(text)
    cjk = sum(map(len, runs))
    return len(WORD.findall(text)) - len(runs) + (cjk + 1) // 2


def judge(sentences: list[str]) -> list[Judged]:
    out = []
    for index, text in enumerate(sentences):
        contribution = bool(CONTRIBUTION.search(text))
        measured = any(ch.isdigit() for ch in text) and bool(MEASURE.search(text))
        out.append(Judged(
            text=text, index=index, contribution=contribution,
            result=measured and (contribution or bool(RESULT.search(text))),
            background=not contribution and bool(BACKGROUND.search(text)),
            boilerplate=bool(BOILERPLATE.search(text)),
            anaphoric=bool(ANAPHORIC.search(drop_lead(text)))))
    return out


# -- shortening at boundaries ---------------------------------------------------------------

# Openers that only make sense after the sentence before them, dropped whole.
LEAD = re.compile(
    r"^(?:(?:however|moreover|furthermore|additionally|in addition|specifically|finally|"
    r"thus|therefore|hence|consequently|importantly|notably|in particular|overall|as a "
    r"result|in contrast|instead|yet|still|accordingly|to this end|to that end|herein|here|"
    r"in this (?:work|paper|study|article|letter|note|manuscript|report)|"
    r"(?:to (?:address|tackle|overcome|solve|fill|close|bridge|mitigate|alleviate|remedy) "
    r"(?:this|these|that|those|the above|such)(?: \w+){0,3})|"
    r"(?:(?:based|building|motivated|inspired|guided) (?:on|by) (?:this|these|that|those|"
    r"such|the above)(?: \w+){0,2}))\s*,?\s+)", re.I)
_PAREN = re.compile(r"\s*\((?:[^()]|\([^()]*\))*\)")
# Only "which"/"who" asides: "such as A, B, and C," would leave half a list behind.
_ASIDE = re.compile(r",\s+(?:which|who)\b[^,;()]*,\s+")
_TRAIL = re.compile(r"(?:,\s+(?:while|whereas|which|where|thereby|enabling|making|leading to|"
                    r"resulting in|with|without|but|although|though|compared (?:with|to)|"
                    r"outperforming|allowing|yielding|as well as|and (?:we|it|they|our|its|"
                    r"their|this|these)|i\.e\.|e\.g\.|such as|including)\b|"
                    r";\s+|\s+—\s+)[^;—]*$", re.I)


def drop_lead(text: str) -> str:
    """Without the opener that ties it to the sentence before ("However, ", "Here we ")."""
    while True:
        found = LEAD.match(text)
        if not found or found.end() >= len(text):
            return text
        text = capitalize(text[found.end():])


def capitalize(text: str) -> str:
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        return text[:1].upper() + text[1:]
    return text


def shorter(text: str) -> list[str]:
    """Ever shorter versions of a sentence, each a whole sentence: parentheticals out, then
    asides between commas, then trailing clauses one at a time (the sentence's own end
    punctuation is kept)."""
    end = text[-1] if _END.search(text) else "."
    body = text[:-1] if _END.search(text) else text
    out = []
    for step in (lambda s: _PAREN.sub("", s), lambda s: _ASIDE.sub(" ", s)):
        lighter = _tidy(step(body))
        if lighter != body and words(lighter) >= 6:
            body = lighter
            out.append(body + end)
    while True:
        found = None
        for match in _TRAIL.finditer(body):
            if words(body[:match.start()]) >= 6:
                found = match
                break
        if found is None:
            return out
        body = _tidy(body[:found.start()])
        out.append(body + end)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([,;:.])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip().rstrip(",;:")
