"""Rewrite an abstract's sentence in the third person, present tense, attributed to the paper.

"We propose DGSSM, a ..." -> "[10] proposes DGSSM, a ..."; "Our pipeline achieves 20.98 dB"
-> "In [10], the pipeline achieves 20.98 dB" (or "Its pipeline ..." when the sentence before
named the paper); "we found that" -> "it finds that". The offline writer stitches sentences
of different papers together, and a "we" that changes meaning every sentence is what made
its briefing unreadable. No model and no dictionary download: abstracts use a small set of
verbs after "we", so regular spelling rules plus the irregular pasts below cover them, and a
past form we cannot map stays past (still third person, never a wrong word).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Verbs that follow "we" in abstracts, base form. Used to turn a past form back into its
# base ("proposed" -> "propose", not "propos") and to recognise a coordinated verb
# ("we propose X and show Y") that must agree with the new singular subject too.
VERBS = frozenset("""
accelerate achieve adapt add address adopt aggregate align analyse analyze anchor annotate
apply approximate argue ask assemble assess assume augment automate benchmark bound build
calibrate capture characterize characterise check classify collect combine compare compile
complement compose compress compute conclude condition conduct confirm consider construct
contrast contribute control convert curate deliver demonstrate denoise deploy derive describe
design detect determine develop devise diagnose discover discuss distil distill document
elucidate employ enable encode engineer enhance ensure establish estimate evaluate examine
exploit explore expose extend extract fine-tune find fit focus formalize formalise formulate
frame generalize generate identify illustrate implement improve incorporate infer
instantiate integrate interpret introduce investigate isolate label learn leverage link
locate map measure mitigate model monitor motivate observe obtain offer optimize optimise
outline outperform pair parameterize perform pinpoint predict prepare present pretrain
probe profile propose prove provide quantify query rank recast recommend reconstruct
recover redesign reduce refine reformulate regularize release remove replace report
represent reproduce require resolve restrict reveal revisit run sample scale screen search
select sequence share show simulate solve specify study suggest summarize supervise
support synthesize synthesise systematize tackle test train transfer translate treat uncover
unify use utilize validate verify visualize
accept animate beat boost cache cluster cut decode decrease double drop edit embed exceed
fail filter fuse halve increase inject insert keep lower mask match merge mix narrow place
prompt prune quantize raise reach record render rerank retrieve route segment stack stream
surpass track tune widen yield
""".split())
IRREGULAR_PAST = {
    "found": "find", "built": "build", "made": "make", "ran": "run", "took": "take",
    "gave": "give", "chose": "choose", "drew": "draw", "wrote": "write", "held": "hold",
    "led": "lead", "saw": "see", "set": "set", "put": "put", "got": "get", "sought": "seek",
    "thought": "think", "brought": "bring", "fed": "feed", "kept": "keep", "left": "leave",
    "lost": "lose", "met": "meet", "began": "begin", "grew": "grow", "knew": "know",
    "became": "become", "came": "come", "went": "go", "spent": "spend", "sent": "send",
    "split": "split", "understood": "understand", "undertook": "undertake", "taught": "teach",
    "overcame": "overcome", "shown": "show", "proved": "prove", "distilled": "distil",
    "modelled": "model", "labelled": "label",
}
AUXILIARY = {"are": "is", "were": "is", "have": "has", "had": "has", "do": "does",
             "did": "does", "'re": "'s", "'ve": "'s"}
# Verbs that are as often nouns after "and" ("a train and test split", "data and model
# size"): never taken for a coordinated verb.
NOUN_TOO = frozenset("""benchmark bound cluster control cut design document double drop focus
frame label link map mask match model pair place profile prompt query rank record sample
scale screen search segment sequence stack stream study test track train transfer yield
""".split())
MODAL = frozenset("can cannot could may might must shall should will would".split())
ADVERB = frozenset("""also further then first now here thus therefore hence next instead
still only again additionally finally subsequently jointly not both""".split())
# A coordinated verb agrees with the subject only inside the subject's own clause: in "we
# show that heads exist and improve recall", "improve" belongs to "heads".
SUBORDINATE = re.compile(r"\b(?:that|which|whether|how|where|who|when|if|because|since|"
                         r"while|whereas|so|than)\b|[;:]")
WE_OR_OUR = re.compile(r"\b(?:[Ww]e|[Oo]ur|[Oo]urs|us|[Oo]urselves)\b")
SELF = re.compile(r"^(?:This|The present|The current|Our) (?:paper|work|study|article|letter|"
                  r"note|manuscript|report|survey|review)\b")
# "We also find" opens a paper's account as "[5] finds": the "also" of the abstract is about
# its previous sentence, which the reader has not seen.
_ALSO = re.compile(r"^\s+(?:also|further|additionally|moreover|then|finally)\b", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
# Words in "-ly" that are not adverbs: verbs that follow "we", and nouns of abstracts.
NOT_ADVERB = frozenset("""apply reply supply multiply comply rely imply ally fly anomaly
assembly family monopoly italy july butterfly poly""".split())


def adverb(word: str) -> bool:
    """'also', 'further', 'empirically', 'directly': words that may stand between "we" and
    its verb, or end a run of content words."""
    low = word.lower()
    return low in ADVERB or (low.endswith("ly") and low not in NOT_ADVERB)


@dataclass(frozen=True)
class Rewrite:
    text: str
    named: bool  # the sentence names the paper (as its subject or "In [n], ...")
    awkward: bool  # a construction we can only approximate ("allows us to", "ours")


def third_person(verb: str) -> tuple[str, bool]:
    """(the singular present of `verb`, whether it was recognised): proposed -> proposes."""
    low = verb.lower()
    if low in MODAL:
        return verb, True
    if low in AUXILIARY:
        return AUXILIARY[low], True
    base = base_form(low)
    if base is None:
        return verb, False
    return _s_form(base), True


def base_form(word: str) -> str | None:
    """The base of a present or past verb form, or None when it is not a verb we know."""
    if word in IRREGULAR_PAST:
        return IRREGULAR_PAST[word]
    if word.endswith("ed"):
        for base in (word[:-1], word[:-2], word[:-3] + "y" if word.endswith("ied") else "",
                     word[:-3] if len(word) > 4 and word[-3] == word[-4] else ""):
            if base in VERBS:
                return base
        return None
    if word.endswith("ing") or adverb(word):
        return None
    return word


def _s_form(base: str) -> str:
    if base in ("be",):
        return "is"
    if base == "have":
        return "has"
    if re.search(r"(?:s|x|z|ch|sh|o)$", base):
        return base + "es"
    if re.search(r"[^aeiou]y$", base):
        return base[:-1] + "ies"
    return base + "s"


_NOT_FINITE = frozenset("""is are was were be been being has have had the a an its our their
this these of with by and or on in for to from as that we it which who when also""".split())


_PARTICIPLE_NEXT = frozenset("on by with from in to for at as via into".split())


def past_tense(text: str) -> bool:
    """Whether a clause of `text` is in the past ("the model reached", "we found"). Rough:
    a past form after a word that does not make it a participle ("is trained", "the
    proposed")."""
    tokens = _WORD.findall(text)
    for before, word, after in zip(tokens, tokens[1:], [*tokens[2:], ""]):
        low = word.lower()
        if before.lower() in _NOT_FINITE or adverb(before) \
                or after.lower() in _PARTICIPLE_NEXT:  # "a model conditioned on"
            continue
        if low in IRREGULAR_PAST and low not in ("set", "put", "split", "fit", "shown") or (
                len(low) > 4 and low.endswith("ed") and low not in ("need", "speed", "seed")):
            return True
    return False


def attribute(text: str, name: str, *, opener: str, named_before: bool = False) -> Rewrite:
    """`text` with the paper as its subject.

    `name` is how the sentence names the paper ("[3]" in the briefing, "the paper" on a
    card); `opener` replaces a sentence-initial "Our" ("In [3], the" or "The");
    `named_before`: the sentence before already named this paper, so "we" and "our" can
    become "it" and "its"."""
    named, awkward = False, False
    found = SELF.match(text)
    if found:
        text, named = _cased(name, True) + text[found.end():], True
    pos = 0
    while match := WE_OR_OUR.search(text, pos):
        start, end = match.span()
        low, at_start = match.group(0).lower(), not text[:start].strip()
        known = named or named_before
        if low == "we":
            new, named = ("it" if known else name), True
            tail = text[end:] if known or not at_start else _ALSO.sub("", text[end:], count=1)
            tail, ok = _agree(tail)
            awkward |= not ok
        else:
            tail = text[end:]
            if low == "our" and at_start and not known:
                new, named = opener, name in opener
            elif low == "our":
                new = "its" if known else "the"
            else:  # "ours", "ourselves", "us": no faithful singular; avoided when possible
                new = {"ours": "its own", "ourselves": "itself"}.get(low, "the authors")
                awkward = True
        new = _cased(new, at_start)
        text = text[:start] + new + tail
        pos = start + len(new)
    return Rewrite(text, named, awkward)


def _cased(word: str, at_start: bool) -> str:
    return word[:1].upper() + word[1:] if at_start else word


def _agree(rest: str) -> tuple[str, bool]:
    """The words after a replaced "we": its verb (after any adverbs) and verbs coordinated
    with it, made to agree with a singular subject. (text, whether the verb was known)."""
    tokens = list(_WORD.finditer(rest))
    i = 0
    while i < len(tokens) and adverb(tokens[i].group(0)):
        i += 1
    if i == len(tokens) or not re.fullmatch(r"[\sA-Za-z-]*", rest[:tokens[i].start()]):
        return rest, False  # "we, in turn, ...": leave it, and let the caller prefer others
    verb = tokens[i]
    new, ok = third_person(verb.group(0))
    tail = rest[verb.end():]
    low = verb.group(0).lower()
    if ok and low not in MODAL and low not in AUXILIARY:
        tail = _coordinated(tail, past=low != base_form(low))
    return rest[:verb.start()] + new + tail, ok


def _coordinated(tail: str, *, past: bool) -> str:
    """Verbs joined to the first by "and"/"or"/"then" within its clause, made to agree."""
    clause = SUBORDINATE.search(tail)
    head, rest = (tail[:clause.start()], tail[clause.start():]) if clause else (tail, "")
    tokens = list(_WORD.finditer(head))
    for i in reversed(range(len(tokens))):  # from the end: earlier offsets stay valid
        if tokens[i].group(0).lower() not in ("and", "or", "then"):
            continue
        j = i + 1
        while j < len(tokens) and adverb(tokens[j].group(0)):
            j += 1
        if j >= len(tokens) or not re.fullmatch(r"[A-Za-z\s-]*",
                                                 head[tokens[i].end():tokens[j].start()]):
            continue
        word = tokens[j].group(0)
        after = tokens[j + 1].group(0) if j + 1 < len(tokens) and \
            not head[tokens[j].end():tokens[j + 1].start()].strip() else ""
        new = _agreeing(word, after, past, far=len(head[:tokens[i].start()].split()) >= 4)
        head = head[:tokens[j].start()] + new + head[tokens[j].end():]
    return head + rest


# After a verb comes its object or a preposition; after a noun, rarely one of these.
_OBJECT_START = frozenset("""a an the each every all its their it them this these that those
on in into with to for from over across by at how what whether""".split())


def _agreeing(word: str, after: str, past: bool, *, far: bool = False) -> str:
    """`word` (after "and") made singular present when it is a verb in the same form as the
    first one: "propose X and show Y", "trained X and used Y". A word that is as often a
    noun counts as a verb when an object follows it, or when the "and" is far from the first
    verb ("translate pairs into 25 languages and study ..."; not "a train and test split")."""
    low = word.lower()
    base = base_form(low)
    if base is None or (low != base) != past or low in _OBJECT_START:
        return word
    if past:
        verb = base in VERBS or low in IRREGULAR_PAST
    else:
        verb = (base in VERBS and (base not in NOUN_TOO or far)) \
            or after.lower() in _OBJECT_START
    return _s_form(base) if verb else word
