"""Locale: every user-facing string, in every language we speak.

`i18n` is the one lookup (gettext catalogs managed with Babel, plural rules, dates and
numbers); `messages.pot` is the template `pybabel extract` writes from the code and the
templates (babel.cfg); `<lang>/LC_MESSAGES/messages.po` is one language, `.mo` its compiled
form, which ships with the package and registers the language.
"""
