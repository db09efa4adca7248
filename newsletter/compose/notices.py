"""The short transactional emails: confirmation, welcome, "already subscribed" and a fresh
preferences link. One message and one button each, with the digest's header and footer."""

from __future__ import annotations

import datetime as dt

from newsletter.compose import render
from newsletter.compose.render import (
    TEXT_RULE,
    Link,
    Rendered,
    one_line,
    render_html,
    render_subject,
    render_text,
    safe_url,
)
from newsletter.compose.view import footer_context
from newsletter.core.config import get_settings
from newsletter.core.links import url_for
from newsletter.core.time import local_now
from newsletter.locale import i18n
from newsletter.subscribers.lifecycle import PENDING_DAYS

__all__ = ["render_already_subscribed", "render_confirmation", "render_preferences_link",
           "render_welcome"]


def _simple(name: str, subscriber, context: dict, links: list[Link],
            topics: list[str] | None) -> Rendered:
    """Confirmation and welcome: one message, one button, the shared header and footer.
    `topics` None leaves out the "why you get this" line (nothing is subscribed yet)."""
    locale = i18n.normalize_locale(subscriber.locale)
    ctx = {"locale": locale, "rule": TEXT_RULE,
           "date_long": i18n.translator(locale).date(_local_today(subscriber)), **context,
           **footer_context(locale, subscriber.email, topics or [], links)}
    if topics is None:
        ctx["footer_lines"] = ctx["footer_lines"][:1]
    ctx["subject"] = render_subject(name, ctx)
    return Rendered(ctx["subject"], ctx["preheader"], render_html(name, locale, ctx),
                    render_text(name, ctx))


def _local_today(subscriber) -> dt.date:
    return local_now(subscriber.timezone).date()


def render_confirmation(subscriber, confirm_url: str) -> Rendered:
    """The double opt-in email; no unsubscribe link: nothing is subscribed yet."""
    tr = i18n.translator(subscriber.locale)
    return _simple("confirm", subscriber, {
        "preheader": tr.gettext("One click to start your daily research digest."),
        "body": tr.gettext("Someone, hopefully you, asked to receive the AcademicHub research "
                           "digest at %(email)s. Confirm to start receiving it.",
                           email=subscriber.email),
        "expiry": tr.ngettext("This link expires in %(num)s day.",
                              "This link expires in %(num)s days.", PENDING_DAYS),
        "action": Link(tr.gettext("Confirm my subscription"), safe_url(confirm_url)),
    }, [], None)


def render_welcome(subscriber, topics: list[str] | None = None) -> Rendered:
    tr = i18n.translator(subscriber.locale)
    when = {"time": f"{subscriber.send_hour:02d}:00", "timezone": subscriber.timezone}
    preferences = url_for("preferences", subscriber)
    topics = [one_line(topic, render.MAX_TOPIC) for topic in (topics or [])[: render.MAX_TOPICS]]
    frequency = (tr.gettext("once a week") if subscriber.frequency == "weekly"
                 else tr.gettext("every day new papers are announced"))
    return _simple("welcome", subscriber, {
        "preheader": tr.gettext("Your first digest arrives at %(time)s (%(timezone)s).", **when),
        "body": tr.ngettext(
            "Your research digest arrives at %(time)s (%(timezone)s), %(frequency)s, with up "
            "to %(num)s paper picked for your topics.",
            "Your research digest arrives at %(time)s (%(timezone)s), %(frequency)s, with up "
            "to %(num)s papers picked for your topics.",
            subscriber.max_papers, frequency=frequency, **when),
        "topics_line": tr.gettext("Your topics: %(topics)s.", topics=tr.join(topics))
        if topics else "",
        "action": Link(tr.gettext("Edit my preferences"), preferences),
    }, [Link(tr.gettext("Preferences"), preferences),
        Link(tr.gettext("Unsubscribe"), url_for("unsubscribe", subscriber))], topics)


def render_already_subscribed(subscriber) -> Rendered:
    """Someone asked to subscribe an address that already gets the digest."""
    tr = i18n.translator(subscriber.locale)
    preferences = url_for("preferences", subscriber)
    return _simple("notice", subscriber, {
        "heading": tr.gettext("You are already subscribed"),
        "preheader": tr.gettext("Nothing changed: here is the link to your preferences."),
        "body": tr.gettext("Someone, hopefully you, asked to subscribe %(email)s to the "
                           "AcademicHub research digest. This address already receives it, "
                           "so nothing changed. To change your topics or the time it comes, "
                           "open your preferences.", email=subscriber.email),
        "note": tr.gettext("If you did not ask for this, you can ignore this email."),
        "action": Link(tr.gettext("Edit my preferences"), preferences),
    }, [Link(tr.gettext("Preferences"), preferences),
        Link(tr.gettext("Unsubscribe"), url_for("unsubscribe", subscriber))], [])


def render_preferences_link(subscriber) -> Rendered:
    """A fresh preferences link, asked for on the site (the old one expired)."""
    tr = i18n.translator(subscriber.locale)
    preferences = url_for("preferences", subscriber)
    days = get_settings().preferences_link_days
    return _simple("notice", subscriber, {
        "heading": tr.gettext("Your preferences link"),
        "preheader": tr.gettext("A fresh link to change your AcademicHub digest."),
        "body": tr.gettext("Here is a fresh link to your AcademicHub preferences, as asked "
                           "for on our site."),
        "note": tr.ngettext("The link works for %(num)s day. If you did not ask for it, you "
                            "can ignore this email.",
                            "The link works for %(num)s days. If you did not ask for it, you "
                            "can ignore this email.", days),
        "action": Link(tr.gettext("Edit my preferences"), preferences),
    }, [Link(tr.gettext("Preferences"), preferences),
        Link(tr.gettext("Unsubscribe"), url_for("unsubscribe", subscriber))], [])
