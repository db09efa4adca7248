"""The ranking engine: plain papers and interest profiles in, ranked picks with reasons out.

Pure and vectorised (numpy + scipy.sparse), so `select.select_papers` runs it for one
subscriber and `bench/rank.py` for 100,000 at once without a database. How a score is made:

- Text is folded (TeX accents, diacritics, case), split into Porter2 stems; Chinese runs
  become character bigrams. Papers get BM25F weights over title + abstract, title boosted.
- A topic matches as a phrase (every adjacent pair of its tokens present, in the title or
  the abstract) for full weight; all its words scattered (hyphenated words kept whole) for
  a third; some of them for a trace, which orders papers but never qualifies one. Topics
  typed in Chinese also match through a small glossary of research terms.
- Categories (primary more than cross-listed; "cs" means all of cs.*) add a fixed score.
- Followed authors (full names, after `author_key`) put a paper first, whatever else.
- Excluded words drop a paper (unless it is by a followed author: people complain most
  about missing those); feedback term weights nudge scores; recency breaks ties.
- A learned model (`learned.Model`, trained on the subscriber's library and ratings over
  the shared representation in `corpus.vectors`) adds its score in background units: a
  paper `learned.QUALIFY` deviations above the day's typical paper qualifies on its own.
  Profiles without a model rank exactly as without this step.
- Below `MIN_SCORE` nothing is padded in; a greedy pass damps a sub-topic already picked.
- Sources (journals) restrict a profile to their papers; sources alone, with no topic,
  category or author, qualify every paper of theirs, newest first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import Stemmer

from newsletter.locale.i18n import reason_text
from newsletter.ranking import learned

# --- Text: folding, tokens, topics, author names -------------------------------------------

_STEMMER = Stemmer.Stemmer("english")
STOPWORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
    "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
    "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
    "here", "hers", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me",
    "more", "most", "my", "no", "nor", "not", "of", "off", "on", "once", "only", "or", "other",
    "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
    "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
    "your", "via", "using", "use", "used", "based", "show", "shows", "paper", "propose",
    "proposes",
])
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TOKEN_RE = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TEX_ACCENT = re.compile(r"\\[`'^\"~=.](?:\{\s*([A-Za-z])\s*\}|([A-Za-z]))"
                         r"|\\[cvHuk](?:\{\s*([A-Za-z])\s*\}|\s+([A-Za-z]))")
_TEX_LETTERS = {r"\ss": "ss", r"\aa": "a", r"\AA": "A", r"\ae": "ae", r"\AE": "AE",
                r"\oe": "oe", r"\OE": "OE", r"\o": "o", r"\O": "O", r"\l": "l", r"\L": "L",
                r"\i": "i", r"\j": "j"}
_TEX_LETTER_RE = re.compile(r"\\(ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?![A-Za-z])")
_UNDECOMPOSED = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae",
                               "Æ": "AE", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i",
                               "þ": "th", "ð": "d", "’": "'"})


def fold(text: str) -> str:
    """TeX accents and Unicode diacritics away, case folded: 'M{\\"u}ller' -> 'muller'."""
    if "\\" in text:
        text = _TEX_LETTER_RE.sub(lambda m: _TEX_LETTERS["\\" + m.group(1)], text)
        text = _TEX_ACCENT.sub(lambda m: next(g for g in m.groups() if g), text)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold()


def title_key(title: str) -> str:
    """One spelling per title, to recognise a paper under another id (a journal version)."""
    return " ".join(re.findall(r"\w+", fold(title)))


def tokens_with_stops(text: str) -> list[str]:
    """Stems in order, stopwords kept (phrases need them); Chinese as character bigrams."""
    out: list[str] = []
    for tok in _TOKEN_RE.findall(fold(text)):
        if tok[0] >= "\u3400":
            out.extend([tok] if len(tok) == 1 else [tok[i:i + 2] for i in range(len(tok) - 1)])
        else:
            out.append(tok)
    latin = [i for i, t in enumerate(out) if t[0] < "\u3400" and t not in STOPWORDS]
    for i, stem in zip(latin, _STEMMER.stemWords([out[i] for i in latin])):
        out[i] = stem
    return out


def tokens(text: str) -> list[str]:
    return [t for t in tokens_with_stops(text) if t not in STOPWORDS]


# Chinese research terms -> English, for topics typed in Chinese (papers are mostly English).
GLOSSARY = {
    "大语言模型": "large language models", "大模型": "large language models",
    "语言模型": "language models", "多模态": "multimodal", "知识蒸馏": "knowledge distillation",
    "蒸馏": "distillation", "强化学习": "reinforcement learning", "深度学习": "deep learning",
    "机器学习": "machine learning", "神经网络": "neural networks", "图神经网络": "graph neural networks",
    "扩散模型": "diffusion models", "生成模型": "generative models", "对齐": "alignment",
    "推理": "reasoning", "检索增强生成": "retrieval-augmented generation", "检索": "retrieval",
    "智能体": "agents", "代理": "agents", "机器人": "robotics", "计算机视觉": "computer vision",
    "自然语言处理": "natural language processing", "机器翻译": "machine translation",
    "语音识别": "speech recognition", "目标检测": "object detection", "图像分割": "image segmentation",
    "图像生成": "image generation", "视频生成": "video generation", "联邦学习": "federated learning",
    "迁移学习": "transfer learning", "自监督学习": "self-supervised learning",
    "对比学习": "contrastive learning", "元学习": "meta-learning", "量子计算": "quantum computing",
    "量子": "quantum", "优化": "optimization", "因果推断": "causal inference",
    "推荐系统": "recommender systems", "知识图谱": "knowledge graphs", "幻觉": "hallucination",
    "可解释性": "interpretability", "鲁棒性": "robustness", "隐私": "privacy",
    "差分隐私": "differential privacy", "安全": "safety", "对抗攻击": "adversarial attacks",
    "蛋白质": "protein", "蛋白质结构预测": "protein structure prediction", "基因组": "genomics",
    "单细胞": "single-cell", "药物发现": "drug discovery", "材料": "materials",
    "暗物质": "dark matter", "引力波": "gravitational waves", "黑洞": "black holes",
    "超导": "superconductivity", "拓扑": "topological", "编译器": "compilers",
    "操作系统": "operating systems", "分布式系统": "distributed systems", "数据库": "databases",
    "密码学": "cryptography", "自动驾驶": "autonomous driving", "指令微调": "instruction tuning",
    "微调": "fine-tuning", "预训练": "pre-training", "提示": "prompting", "思维链": "chain-of-thought",
    "混合专家": "mixture of experts", "注意力": "attention", "变换器": "transformers",
    "模型压缩": "model compression", "量化": "quantization", "剪枝": "pruning",
    "在线策略蒸馏": "on-policy distillation", "策略优化": "policy optimization",
    "奖励模型": "reward models", "偏好优化": "preference optimization", "代码生成": "code generation",
    "数学推理": "mathematical reasoning", "时间序列": "time series", "异常检测": "anomaly detection",
    "医学影像": "medical imaging", "气候": "climate", "天气预报": "weather forecasting",
}
_GLOSSARY_MAX = max(map(len, GLOSSARY))


def _translate(text: str) -> str | None:
    """Greedy longest-match translation of the Chinese runs of a topic; None if none known."""
    parts, hit, i = [], False, 0
    while i < len(text):
        for size in range(min(_GLOSSARY_MAX, len(text) - i), 0, -1):
            if text[i:i + size] in GLOSSARY:
                parts.append(f" {GLOSSARY[text[i:i + size]]} ")
                hit, i = True, i + size
                break
        else:
            if not CJK_RE.match(text[i]):
                parts.append(text[i])
            i += 1
    return " ".join("".join(parts).split()) if hit else None


@dataclass(frozen=True)
class Form:
    """One way a topic can appear: its tokens, and the pairs that must stay together."""

    tokens: list[str]
    label: str | None  # the English rendering of a Chinese topic, for the reason
    glued: frozenset[str]  # bigrams inside hyphenated words: "on-policy" never scatters


def topic_forms(topic: str) -> list[Form]:
    """The token sequences a topic matches: itself, and for Chinese its English rendering."""
    texts = [(topic, None)]
    if CJK_RE.search(topic) and (english := _translate(topic)):
        texts.append((english, english))
    forms = []
    for text, label in texts:
        glued = {g for chunk in text.split() for g in _bigrams(tokens_with_stops(chunk))}
        forms.append(Form(tokens_with_stops(text), label, frozenset(glued)))
    return [f for f in forms if f.tokens]


def _bigrams(toks: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(toks)]


_NAME_PUNCT = re.compile(r"[^\w\s]|_")
_TRAILING_INITIAL = re.compile(r"^(?!(?:Jr|Sr|St)\.$)[^\W\d_]{1,2}\.(?:-?[^\W\d_]{1,2}\.)*$")


def author_key(name: str) -> str:
    """One spelling per person: 'Müller, J{\\"o}rg' and 'Jorg Muller' -> 'jorg muller';
    'Zhang A.' (how the harvest writes bioRxiv's 'Zhang, A.') and 'A. Zhang' -> 'a zhang'."""
    name = name.strip()
    if name.count(",") == 1:
        last, first = (x.strip() for x in name.split(","))
        if first and first.casefold() not in {"jr", "jr.", "sr", "sr.", "ii", "iii"}:
            name = f"{first} {last}"
    elif "," not in name:
        words = name.split()
        cut = len(words)
        while cut > 1 and _TRAILING_INITIAL.match(words[cut - 1]):
            cut -= 1
        name = " ".join(words[cut:] + words[:cut])
    name = fold(name).replace("{", "").replace("}", "")
    name = _NAME_PUNCT.sub(lambda m: " " if m.group() in "-'’" else "", name.replace(".", ". "))
    return " ".join(name.split())


# --- Scoring -------------------------------------------------------------------------------

TITLE_BOOST = 3.0
K1, B = 1.2, 0.75
PRIOR_DOCS = 100  # idf smoothing: a tiny preview corpus must not make every term look common
PHRASE, ALL_WORDS, SOME_WORDS = 1.0, 0.35, 0.1
CATEGORY_PRIMARY, CATEGORY_CROSS = 1.5, 1.2
FEEDBACK_WEIGHT = 0.3
MIN_SCORE = 1.0
DIVERSITY_DECAY = 0.7  # each pick of a sub-topic multiplies the rest of that sub-topic by this
FOLLOWED_BONUS = 1e6
RECENCY_EPS = 1e-3
LEARNED_WEIGHT = 4.0  # a paper at QUALIFY deviations scores like a good phrase match

__all__ = [
    "MIN_SCORE",
    "Corpus",
    "Doc",
    "Profile",
    "Ranking",
    "Reason",
    "author_key",
    "explain",
    "feedback_weights",
    "fold",
    "rank",
    "reasons",
    "tokens",
]


@dataclass(frozen=True)
class Doc:
    title: str
    abstract: str = ""
    authors: Sequence[str] = ()
    categories: Sequence[str] = ()
    primary_category: str | None = None
    source: str = ""
    timestamp: float = 0.0  # larger is newer; only breaks ties
    journal: str = ""  # a preprint's journal version ("Nature"): a source interest matches it


@dataclass
class Profile:
    keywords: Sequence[str] = ()
    categories: Sequence[str] = ()
    authors: Sequence[str] = ()
    excludes: Sequence[str] = ()
    sources: Sequence[str] = ()
    term_weights: Mapping[str, float] = field(default_factory=dict)  # stem -> [-1, 1]
    blocked: frozenset[int] = frozenset()  # doc indices this subscriber may not get
    model: learned.Model | None = None  # over `corpus.vectors`, same representation version
    anchors: np.ndarray | None = None  # library and liked papers' vectors, for the reason
    anchor_labels: Sequence[tuple[str, str]] = ()  # (title, year) of each anchor


@dataclass
class TopicScores:
    score: np.ndarray  # papers x topics, every kind of match
    strong: np.ndarray  # only phrase or all-words matches: what may qualify a paper
    present: np.ndarray  # bool, the topic appears as a phrase (excluded words use this)


class Corpus:
    """The candidate papers, indexed once; every profile is scored against it."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = list(docs)
        n = len(self.docs)
        self.title_tokens = [tokens_with_stops(d.title) for d in self.docs]
        self.abstract_tokens = [tokens_with_stops(d.abstract) for d in self.docs]
        # Flat lists per (doc, field) segment, turned into sparse matrices in bulk below:
        # content stems (with repeats, for term frequency) and the set of stems and bigrams
        # present (stopwords included, for phrases).
        content, present, content_len, present_len = [], [], [], []
        for tt, at in zip(self.title_tokens, self.abstract_tokens):
            for toks in (tt, at):
                stems = [t for t in toks if t not in STOPWORDS]
                feats = set(toks)
                feats.update(_bigrams(toks))
                content.extend(stems)
                present.extend(feats)
                content_len.append(len(stems))
                present_len.append(len(feats))
        vocab: dict[str, int] = {}
        content_ids = np.fromiter((vocab.setdefault(x, len(vocab)) for x in content), np.int64,
                                  count=len(content))
        present_ids = np.fromiter((vocab.setdefault(x, len(vocab)) for x in present), np.int64,
                                  count=len(present))
        self.vocab = vocab
        v = len(vocab)
        segment = np.arange(2 * n)
        c_seg = np.repeat(segment, content_len)
        p_seg = np.repeat(segment, present_len)

        def matrix(seg: np.ndarray, ids: np.ndarray, field: int) -> sp.csr_matrix:
            keep = seg % 2 == field
            ones = np.ones(int(keep.sum()), np.float32)
            return sp.csr_matrix((ones, (seg[keep] // 2, ids[keep])), shape=(n, v))

        tf_title, tf_abstract = matrix(c_seg, content_ids, 0), matrix(c_seg, content_ids, 1)
        lens = np.asarray(content_len, np.float32).reshape(n, 2) if n else np.zeros((0, 2))
        norm = 1 - B + B * lens / np.maximum(lens.mean(axis=0), 1.0) if n else lens
        tf = (tf_title.multiply(TITLE_BOOST / norm[:, :1]) +
              tf_abstract.multiply(1 / norm[:, 1:])).tocsr()
        df = np.bincount(tf.indices, minlength=v).astype(np.float32)
        self.df = df  # documents per stem: the learned models' idf
        idf = np.log1p((n + PRIOR_DOCS - df + 0.5) / (df + 0.5))
        tf.data = (idf[tf.indices] * tf.data * (K1 + 1) / (K1 + tf.data)).astype(np.float32)
        self.weights = tf
        self.in_title = matrix(p_seg, present_ids, 0)
        self.in_abstract = matrix(p_seg, present_ids, 1)
        self.anywhere = ((self.in_title + self.in_abstract) > 0).astype(np.float32)
        stamps = np.asarray([d.timestamp for d in self.docs], np.float64)
        span = float(stamps.max() - stamps.min()) if n else 0.0
        self.recency = ((stamps - stamps.min()) / span if span else np.zeros(n)) * RECENCY_EPS
        self.vectors: np.ndarray | None = None  # (n, dims) shared representation, if any

    @cached_property
    def categories(self) -> tuple[dict[str, int], sp.csr_matrix]:
        """Category (and archive: 'cs' for cs.*) scores per paper."""
        index: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, d in enumerate(self.docs):
            primary = (d.primary_category or (d.categories[0] if d.categories else "")).lower()
            seen: dict[int, float] = {}
            for cat in d.categories:
                cat = cat.lower()
                score = CATEGORY_PRIMARY if cat == primary else CATEGORY_CROSS
                for key, s in ((cat, score), (cat.split(".")[0], CATEGORY_CROSS)):
                    col = index.setdefault(key, len(index))
                    seen[col] = max(seen.get(col, 0.0), s)
            for col, s in seen.items():
                rows.append(i)
                cols.append(col)
                vals.append(s)
        m = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)),
                          shape=(len(self.docs), len(index)))
        return index, m

    @cached_property
    def authors(self) -> tuple[dict[str, int], sp.csr_matrix]:
        index: dict[str, int] = {}
        rows, cols = [], []
        for i, d in enumerate(self.docs):
            for key in {author_key(a) for a in d.authors} - {""}:
                rows.append(i)
                cols.append(index.setdefault(key, len(index)))
        m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                          shape=(len(self.docs), len(index)))
        return index, m

    def topic_scores(self, topics: Sequence[str]) -> TopicScores:
        """Per paper x topic: the match score, its part from whole matches, phrase presence."""
        forms, owner = [], []
        for j, topic in enumerate(topics):
            for form in topic_forms(topic):
                forms.append(form)
                owner.append(j)
        n, v = len(self.docs), len(self.vocab)
        f = len(forms)
        u_rows, u_cols, b_rows, b_cols, g_rows, g_cols = [], [], [], [], [], []
        need_u = np.zeros(f, np.float32)
        need_b = np.zeros(f, np.float32)
        need_g = np.zeros(f, np.float32)
        for k, fm in enumerate(forms):
            toks = fm.tokens
            content = {t for t in toks if t not in STOPWORDS}
            grams = set(_bigrams(toks))
            need_u[k], need_b[k], need_g[k] = len(content), len(grams), len(fm.glued)
            for items, rws, cls in ((content, u_rows, u_cols), (grams, b_rows, b_cols),
                                    (fm.glued, g_rows, g_cols)):
                for item in items:
                    if item in self.vocab:
                        rws.append(self.vocab[item])
                        cls.append(k)

        def incidence(rws: list[int], cls: list[int]) -> sp.csr_matrix:
            return sp.csr_matrix((np.ones(len(rws), np.float32), (rws, cls)), shape=(v, f))

        U, Bm, G = incidence(u_rows, u_cols), incidence(b_rows, b_cols), incidence(g_rows, g_cols)
        wsum = (self.weights @ U).toarray()
        have = (self.anywhere @ U).toarray()
        all_words = (have >= need_u) & (need_u > 0) & ((self.anywhere @ G).toarray() >= need_g)
        phrase_t = ((self.in_title @ Bm).toarray() >= need_b) & all_words
        phrase_a = ((self.in_abstract @ Bm).toarray() >= need_b) & all_words
        phrase = phrase_t | phrase_a
        factor = np.where(phrase, PHRASE, np.where(all_words, ALL_WORDS, SOME_WORDS))
        scores = (wsum * factor).astype(np.float32)
        out = np.zeros((n, len(topics)), np.float32)
        strong = np.zeros((n, len(topics)), np.float32)
        present = np.zeros((n, len(topics)), bool)
        if f:
            owner_a = np.asarray(owner)
            starts = np.flatnonzero(np.r_[True, owner_a[1:] != owner_a[:-1]])
            cols = owner_a[starts]
            out[:, cols] = np.maximum.reduceat(scores, starts, axis=1)
            strong[:, cols] = np.maximum.reduceat(np.where(phrase | all_words, scores, 0),
                                                  starts, axis=1)
            present[:, cols] = np.logical_or.reduceat(phrase, starts, axis=1)
        return TopicScores(out, strong, present)


@dataclass
class Ranking:
    """Picks per profile: doc indices (-1 where fewer qualify), scores, followed flags."""

    picks: np.ndarray
    scores: np.ndarray
    followed: np.ndarray

    def for_profile(self, row: int) -> list[tuple[int, float, bool]]:
        keep = self.picks[row] >= 0
        return list(zip(self.picks[row][keep].tolist(), self.scores[row][keep].tolist(),
                        self.followed[row][keep].tolist()))


def _incidence(lists: Sequence[Sequence[int]], width: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(x) for x in lists])
    idx = np.fromiter((c for x in lists for c in x), np.int64, count=int(indptr[-1]))
    return sp.csr_matrix((np.ones(len(idx), np.float32), idx, indptr), shape=(len(lists), width))


def rank(corpus: Corpus, profiles: Sequence[Profile], *, limit: int = 10,
         min_score: float = MIN_SCORE, chunk: int = 2048) -> Ranking:
    n, p = len(corpus.docs), len(profiles)
    if n == 0 or p == 0 or limit <= 0:
        empty = np.zeros((p, max(limit, 0)))
        return Ranking(empty.astype(np.int32) - 1, empty.astype(np.float32), empty.astype(bool))
    # Every distinct keyword and category becomes one column of a signal matrix, scored once.
    topic_ix: dict[str, int] = {}
    excl_ix: dict[str, int] = {}
    cat_index, cat_m = corpus.categories
    author_index, author_m = corpus.authors
    sig_lists, excl_lists, author_lists = [], [], []
    for prof in profiles:
        sig_lists.append(list(dict.fromkeys(
            topic_ix.setdefault(k.strip().casefold(), len(topic_ix)) for k in prof.keywords)))
        excl_lists.append([excl_ix.setdefault(k.strip().casefold(), len(excl_ix))
                           for k in prof.excludes])
        author_lists.append(sorted({author_index[a] for a in map(author_key, prof.authors)
                                    if a in author_index}))
    t = len(topic_ix)
    topics = corpus.topic_scores(list(topic_ix))
    zero_col = t + len(cat_index)
    cats = cat_m.toarray()
    pad = np.zeros((n, 1), np.float32)
    signals_t = np.ascontiguousarray(np.hstack([topics.score, cats, pad]).T)
    strong_t = np.ascontiguousarray(np.hstack([topics.strong, cats, pad]).T)
    for prof, cols in zip(profiles, sig_lists):
        cols.extend(t + cat_index[c.lower()] for c in prof.categories if c.lower() in cat_index)
    excl_t = corpus.topic_scores(list(excl_ix)).present.T.astype(np.float32)
    author_t = author_m.T.tocsr()
    doc_sources = np.asarray([d.source.casefold() for d in corpus.docs])
    doc_journals = np.asarray([(d.journal or "").casefold() for d in corpus.docs])

    m = min(n, max(3 * limit, limit + 10))
    picks = np.full((p, limit), -1, np.int32)
    scores = np.zeros((p, limit), np.float32)
    followed_out = np.zeros((p, limit), bool)
    rows_all = np.arange(chunk)
    for lo in range(0, p, chunk):
        hi = min(p, lo + chunk)
        c = hi - lo
        r = rows_all[:c]
        incidence = _incidence(sig_lists[lo:hi], zero_col + 1)
        base = np.asarray(incidence @ signals_t)
        strong = np.asarray(incidence @ strong_t)
        fb = [(i, prof.term_weights) for i, prof in enumerate(profiles[lo:hi]) if prof.term_weights]
        for i, tw in fb:
            vec = np.zeros(len(corpus.vocab), np.float32)
            for stem, wgt in tw.items():
                if stem in corpus.vocab:
                    vec[corpus.vocab[stem]] = wgt
            nudge = FEEDBACK_WEIGHT * (corpus.weights @ vec)
            base[i] += nudge
            strong[i] += nudge
        eligible = strong >= min_score
        with_model = [i for i, prof in enumerate(profiles[lo:hi]) if prof.model is not None]
        if with_model and corpus.vectors is not None:
            z = learned.score([profiles[lo + i].model for i in with_model], corpus.vectors,
                              corpus.weights, corpus.vocab)
            base[with_model] += LEARNED_WEIGHT * np.maximum(z, -learned.QUALIFY) / learned.QUALIFY
            eligible[with_model] |= z >= learned.QUALIFY
        for i, prof in enumerate(profiles[lo:hi]):
            if prof.sources and not (prof.keywords or prof.categories or prof.authors):
                eligible[i] = True  # journals alone: all their papers, newest first
        if any(excl_lists[lo:hi]):
            eligible &= (_incidence(excl_lists[lo:hi], len(excl_ix)) @ excl_t) == 0
        if any(author_lists[lo:hi]):
            followed = (_incidence(author_lists[lo:hi], len(author_index)) @ author_t).toarray() > 0
        else:
            followed = np.zeros((c, n), bool)
        eligible |= followed
        for i, prof in enumerate(profiles[lo:hi]):
            if prof.blocked:
                blocked = np.fromiter(prof.blocked, np.int64)
                eligible[i, blocked[blocked < n]] = False
            if prof.sources:
                wanted = [x.casefold() for x in prof.sources]
                eligible[i] &= np.isin(doc_sources, wanted) | np.isin(doc_journals, wanted)
        key = np.where(eligible, base + corpus.recency + followed * FOLLOWED_BONUS, -np.inf)
        if m < n:
            cand = np.argpartition(-key, m - 1, axis=1)[:, :m]
        else:
            cand = np.broadcast_to(np.arange(n), (c, n)).copy()
        adj = np.take_along_axis(key, cand, axis=1)
        cand_followed = np.take_along_axis(followed, cand, axis=1)
        cand_base = np.take_along_axis(base, cand, axis=1)
        # Dominant signal per candidate: the profile's keyword/category that scored it most.
        width = max(1, max(len(x) for x in sig_lists[lo:hi]))
        cols = np.full((c, width), zero_col, np.int64)
        for i, x in enumerate(sig_lists[lo:hi]):
            cols[i, :len(x)] = x
        contrib = signals_t[cols[:, None, :], cand[:, :, None]]
        dom = np.take_along_axis(cols, contrib.argmax(axis=2), axis=1)
        for s in range(limit):
            j = adj.argmax(axis=1)
            v = adj[r, j]
            ok = np.isfinite(v)
            picks[lo:hi, s] = np.where(ok, cand[r, j], -1)
            scores[lo:hi, s] = np.where(ok, cand_base[r, j], 0)
            followed_out[lo:hi, s] = ok & cand_followed[r, j]
            adj[r, j] = -np.inf
            same = (dom == dom[r, j][:, None]) & ~cand_followed & (adj > 0)
            adj = np.where(same, adj * DIVERSITY_DECAY, adj)
    return Ranking(picks, scores, followed_out)


def _where(form: list[str], toks: list[str]) -> bool:
    k = len(form)
    return any(toks[i:i + k] == form for i in range(len(toks) - k + 1)) if k else False


class Reason(NamedTuple):
    """One ground for a pick, as data: each email words it in its own language
    (`i18n.reason_text`); `explain` gives the English words stored on the digest item.

    kind: author | title | abstract | words (all words, scattered) | partial | category |
    source | feedback | recent (nothing else to say)."""

    kind: str
    value: str = ""  # the interest as the subscriber typed it: topic, category, name, source
    gloss: str | None = None  # the English rendering of a topic typed in Chinese


REASON_WEIGHT = {"author": FOLLOWED_BONUS, "title": 3.0, "similar": 2.5, "abstract": 2.0,
                 "words": 1.0, "category": 0.5, "feedback": 0.05}
SHOWN_REASONS = 3


def reasons(corpus: Corpus, profile: Profile, index: int
            ) -> tuple[list[Reason], list[str], str | None]:
    """Why one paper was picked: (up to three reasons, strongest first; the interests it
    matched; the followed author's name as the subscriber typed it, if any)."""
    doc = corpus.docs[index]
    parts: list[tuple[float, Reason]] = []
    matched: list[str] = []
    keys = {author_key(a) for a in doc.authors}
    followed = next((a for a in profile.authors if author_key(a) in keys), None)
    for name in profile.authors:
        if author_key(name) in keys:
            parts.append((REASON_WEIGHT["author"], Reason("author", name)))
            matched.append(name)
    title, abstract = corpus.title_tokens[index], corpus.abstract_tokens[index]
    present = set(title) | set(abstract) | set(_bigrams(title)) | set(_bigrams(abstract))
    for topic in profile.keywords:
        best: tuple[float, Reason] | None = None
        for fm in topic_forms(topic):
            form = fm.tokens
            content = [t for t in form if t not in STOPWORDS]
            hits = sum(t in present for t in content)
            if not hits:
                continue
            if _where(form, title):
                kind = "title"
            elif _where(form, abstract):
                kind = "abstract"
            elif hits == len(content) and fm.glued <= present:
                kind = "words"
            else:
                kind = "partial"
            weight = REASON_WEIGHT.get(kind, 0.1 * hits / len(content))
            cand = (weight, Reason(kind, topic, fm.label))
            best = cand if best is None or cand[0] > best[0] else best
        if best:
            parts.append(best)
            matched.append(topic)
    cats = {c.lower() for c in doc.categories}
    for cat in profile.categories:
        if cat.lower() in cats or cat.lower() in {c.split(".")[0] for c in cats}:
            parts.append((REASON_WEIGHT["category"], Reason("category", cat)))
            matched.append(cat)
    # A paper nothing else explains was picked by the model: name the nearest paper even when
    # this corpus' statistics (a compose worker's small one) score it a little differently.
    if (similar := _similar(corpus, profile, index, force=not parts)) is not None:
        parts.append((REASON_WEIGHT["similar"], similar))
    if profile.term_weights and any(profile.term_weights.get(t, 0) > 0 for t in present):
        parts.append((REASON_WEIGHT["feedback"], Reason("feedback")))
    parts.sort(key=lambda x: -x[0])  # stable: ties keep the subscriber's order
    shown = [reason for _, reason in parts[:SHOWN_REASONS]]
    if not shown:
        source = next((s for s in profile.sources
                       if s.casefold() in (doc.source.casefold(), (doc.journal or "").casefold())),
                      None)
        shown = [Reason("source", source) if source else Reason("recent")]
    return shown, matched, followed


def _similar(corpus: Corpus, profile: Profile, index: int, *, force: bool = False
             ) -> Reason | None:
    """"Close to your paper *Title* (2024)": the nearest library or liked paper, when the
    learned model alone would have qualified this paper (or, `force`, whenever it has one)."""
    if profile.model is None or corpus.vectors is None or profile.anchors is None \
            or not len(profile.anchors):
        return None
    vector = corpus.vectors[index]
    z = learned.score([profile.model], vector[None], corpus.weights[index], corpus.vocab)
    if z[0, 0] < learned.QUALIFY and not force:
        return None
    best, _ = learned.nearest(profile.anchors, vector)
    title, year = profile.anchor_labels[best]
    return Reason("similar", title, year or None)


def explain(corpus: Corpus, profile: Profile, index: int) -> tuple[str, list[str], str | None]:
    """English words for one pick: ("matches 'x' in the title; cs.CL", matched, followed)."""
    found, matched, followed = reasons(corpus, profile, index)
    return reason_text(found, "en"), matched, followed


def feedback_weights(signals: Sequence[tuple[str, str]]) -> dict[str, float]:
    """(paper title, 'more'|'less'|'click') -> stem weights in [-1, 1]: what to see more of.

    Each paper spreads its signal over its title's stems, so one long title does not outweigh
    several short ones; the result is scaled so the strongest stem is +-1.
    """
    value = {"more": 1.0, "click": 0.5, "less": -1.0}
    acc: dict[str, float] = {}
    for text, signal in signals:
        stems = set(tokens(text))
        for stem in stems:
            acc[stem] = acc.get(stem, 0.0) + value.get(signal, 0.0) / len(stems)
    top = max((abs(x) for x in acc.values()), default=0.0)
    return {k: x / top for k, x in acc.items() if x} if top else {}
