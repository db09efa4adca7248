"""Benchmark the compose stage's rendering: median ms per email, precompiled vs naive.

Run: `.venv/bin/python bench/compose.py [--runs N]`. No database: it renders DigestViews
built like compose_digest builds them (abstract cut at a sentence boundary), with the
worst case of issue 3 (2,000-character abstracts, 50 authors each) for 10 and 15 cards.
Precompiled = MJML compiled once per process (with the inline styles of the template's own
elements written in, see render.bake_styles), then Jinja + premailer per email (what
production does). Naive = Jinja over the MJML source, mjml2html and premailer per email.
Unbaked (for reference) = compiled once, but premailer inlines every rule per email.
Target: precompiled <= 8 ms per email including premailer. Wall-clock and CPU-time
medians are both printed: on a shared machine the CPU figure is the steadier one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.test_compose
os.environ.setdefault("SECRET_KEY", "bench-secret")

from mjml import mjml2html

from newsletter.compose import render
from newsletter.compose import view as compose_view
from newsletter.compose.render import cut_at_sentence
from newsletter.compose.view import CardView, DigestView, render_digest
from tests.test_compose import render_html_unbaked

ABSTRACT_EN = ("We study how large language models distil knowledge across domains. "
               "Our method aligns representations with a contrastive objective. ")
ABSTRACT_ZH = "我们研究大型语言模型如何在不同领域之间迁移知识。我们的方法使用对比目标对齐表示。"


def worst_case_view(cards: int, locale: str = "en") -> DigestView:
    base = ABSTRACT_ZH if locale == "zh" else ABSTRACT_EN
    abstract = (base * (2000 // len(base) + 1))[:2000]
    web = "https://hub.example.org"
    return DigestView(
        locale=locale, date=dt.date(2026, 6, 19), email="ada@example.org",
        synthesis="\n\n".join(
            f"Paragraph {p} connects findings across fields [{p}] and [{p + 1}, {p + 2}]. "
            * 3 for p in range(1, 4)),
        theme="Knowledge distillation across domains", preheader="15 papers today",
        topics=["language models", "cs.CL", "Author: Zhuokai Zhao"],
        preferences_url=f"{web}/preferences/tok", unsubscribe_url=f"{web}/u/tok",
        web_url=f"{web}/d/tok",
        cards=[CardView(
            n=n, title=f"Paper {n}: a long and descriptive title about distillation, "
                       "alignment and evaluation of language models at scale",
            authors=[f"Author Number{a} Surname" for a in range(49)] + ["Zhuokai Zhao"],
            followed=["Zhuokai Zhao"], summary=cut_at_sentence(abstract),
            category="cs.CL", date=dt.date(2026, 6, 19),
            reason="matches 'language models' in the title; by Zhuokai Zhao",
            url=f"{web}/c/token-{n}-" + "x" * 80, abstract_url=f"https://arxiv.org/abs/2606.{n:05d}",
            pdf_url=f"https://arxiv.org/pdf/2606.{n:05d}",
            more_url=f"{web}/f/more-{n}-" + "x" * 80, less_url=f"{web}/f/less-{n}-" + "x" * 80,
            export_url=f"{web}/x/bib-{n}-" + "x" * 100,
        ) for n in range(1, cards + 1)],
        bibtex_url=f"{web}/x/bib-" + "x" * 90, ris_url=f"{web}/x/ris-" + "x" * 100,
        feed_url=f"{web}/feed/" + "x" * 60,
    )


def render_html_naive(name: str, locale: str, context: dict) -> str:
    """The slow way: Jinja over the MJML source, compile, inline, all per email."""
    source = render.ENV.from_string(render.mjml_source(name, locale)).render(context)
    return render.inline(render.finish_compiled(mjml2html(source, fonts={})))


@contextmanager
def rendering_with(render_html):
    """Swap the HTML renderer where `render_digest` looks it up (the view module)."""
    compose_view.render_html = render_html
    try:
        yield
    finally:
        compose_view.render_html = render.render_html


def median_ms(fn, runs: int, clock=time.perf_counter) -> float:
    fn()  # warm-up (and, for the precompiled path, the one-off compile)
    times = []
    for _ in range(runs):
        start = clock()
        fn()
        times.append((clock() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    start = time.perf_counter()
    render.compiled("digest", "en")
    print(f"one-off MJML compile (digest, en): {(time.perf_counter() - start) * 1000:.1f} ms")

    for cards in (10, 15):
        view = worst_case_view(cards)
        fast = median_ms(lambda v=view: render_digest(v), args.runs)
        fast_cpu = median_ms(lambda v=view: render_digest(v), args.runs, time.process_time)
        with rendering_with(render_html_naive):
            naive = median_ms(lambda v=view: render_digest(v), max(5, args.runs // 4))
            naive_cpu = median_ms(lambda v=view: render_digest(v), max(5, args.runs // 4),
                                  time.process_time)
        with rendering_with(render_html_unbaked):
            unbaked_cpu = median_ms(lambda v=view: render_digest(v), args.runs,
                                    time.process_time)
        print(f"{cards} cards: precompiled {fast:.2f} ms/email (cpu {fast_cpu:.2f}), "
              f"naive {naive:.2f} ms/email (cpu {naive_cpu:.2f}), "
              f"naive/precompiled {naive / fast:.1f}x; unbaked cpu {unbaked_cpu:.2f}")

    # Where the precompiled time goes, on the 15-card digest.
    view = worst_case_view(15)
    captured = {}

    def spy(name, locale, context):
        template = render.compiled(name, locale)
        captured["raw"] = template.render(context)
        captured["css"] = template.css_for(captured["raw"])
        return render.inline(captured["raw"], captured["css"])

    with rendering_with(spy):
        render_digest(view)

    def premailer():
        return render.inline(captured["raw"], captured["css"])

    premailer_ms = median_ms(premailer, args.runs)
    premailer_cpu = median_ms(premailer, args.runs, time.process_time)
    print(f"  of which premailer: {premailer_ms:.2f} ms (cpu {premailer_cpu:.2f}) "
          f"(input {len(captured['raw']) // 1024} KB)")

    for locale in ("en", "zh"):
        rendered = render_digest(worst_case_view(15, locale))
        size = len(rendered.html.encode())
        shown = rendered.html.count('class="card-box" id="card-')
        print(f"worst case, 15 cards, {locale}: HTML {size / 1000:.1f} KB "
              f"(budget {compose_view.HTML_BUDGET / 1000:.0f} KB), {shown} cards in the email, "
              f"text {len(rendered.text.encode()) / 1000:.1f} KB")


if __name__ == "__main__":
    main()
