"""What feedparser drops, read again from the raw XML: every identifier of an item, and
authors written as custom elements. Pure, like the parsers that use it (`feeds.py`).

feedparser keeps one value per element name, so:
- an item with several `dc:identifier`s (old Science/AAAS RDF: `doi:...` and `url:...`, or
  `info:doi/...` and `hwp:resource-id:...`) keeps only the last one, and the DOI is lost;
- JOSS's Atom entries wrap their authors in an un-namespaced `<authors>` element holding
  `<author><name>` or `<given_name>`/`<last_name>`: feedparser reads `<authors>` as a plain
  field and loses all of them but one, or all of them; an `<author>` with name parts but no
  `<name>` is not read at all.
`item_extras` walks the same document with lxml and returns, per item/entry in document
order, what the parsers need. lxml rather than the standard library's ElementTree because it
recovers from the errors real feeds have (a bare `&`) as feedparser does, so a slightly broken
feed still gets its DOIs; entities are never expanded and nothing is loaded from the network,
so an XML bomb or an external entity costs nothing. It runs only when the bytes contain such
elements, so arXiv feeds never pay for a second parse; when its items do not line up with
feedparser's, the caller ignores them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lxml import etree
from lxml.etree import _Element as Element

from newsletter.harvest.textclean import collapse

log = logging.getLogger(__name__)

# Element names (any namespace), as data: a publisher's new spelling is one word here.
ITEM_TAGS = frozenset({"item", "entry"})
IDENTIFIER_TAGS = frozenset({"identifier"})
AUTHOR_TAGS = frozenset({"author", "creator", "contributor"})
AUTHOR_LIST_TAGS = frozenset({"authors", "creators", "contributors"})
NAME_TAGS = frozenset({"name", "full_name", "fullname"})
GIVEN_TAGS = ("given_name", "given", "first_name", "firstname", "forename")
MIDDLE_TAGS = ("middle_name", "middlename")
FAMILY_TAGS = ("last_name", "family_name", "family", "surname", "lastname")
_TRIGGERS = (b"identifier", b"<authors", b":authors")


@dataclass(frozen=True)
class ItemExtras:
    identifiers: tuple[str, ...] = ()  # every dc:identifier, in document order
    authors: tuple[str, ...] = ()  # one person each, from structured author lists


NONE = ItemExtras()


def item_extras(data: bytes) -> list[ItemExtras] | None:
    """Extras per item/entry in document order; None when the document has nothing to add."""
    if not any(trigger in data for trigger in _TRIGGERS):
        return None
    try:
        root = etree.fromstring(data, _parser())
    except (etree.LxmlError, ValueError) as error:
        log.debug("no raw-XML extras: %s", error)
        return None
    if root is None:  # nothing recoverable
        return None
    return [_extras(item) for item in _items(root)]


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not safe to share between threads.
    return etree.XMLParser(recover=True, resolve_entities=False, no_network=True,
                           load_dtd=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


def _items(element: Element) -> list[Element]:
    """Items and entries, not descending into them (an entry never holds another)."""
    found = []
    for child in element:
        if _local(child.tag) in ITEM_TAGS:
            found.append(child)
        else:
            found.extend(_items(child))
    return found


def _extras(item: Element) -> ItemExtras:
    identifiers = tuple(
        text for child in item
        if _local(child.tag) in IDENTIFIER_TAGS and (text := collapse(_text(child)))
    )
    authors: list[str] = []
    for child in item:
        tag = _local(child.tag)
        if tag in AUTHOR_LIST_TAGS:
            authors.extend(name for person in child if (name := _person(person)))
        elif tag in AUTHOR_TAGS and _structured(child):  # feedparser reads <name>, not these
            authors.append(_person(child))
    return ItemExtras(identifiers, tuple(authors)) if identifiers or authors else NONE


def _person(element: Element) -> str:
    if _local(element.tag) not in AUTHOR_TAGS:
        return ""
    parts = {_local(child.tag): collapse(_text(child)) for child in element}
    name = next((parts[tag] for tag in NAME_TAGS if parts.get(tag)), "")
    if name:
        return name
    given = next((parts[tag] for tag in GIVEN_TAGS if parts.get(tag)), "")
    middle = next((parts[tag] for tag in MIDDLE_TAGS if parts.get(tag)), "")
    family = next((parts[tag] for tag in FAMILY_TAGS if parts.get(tag)), "")
    if family or given:
        return " ".join(p for p in (given, middle, family) if p)
    return collapse(_text(element)) if not len(element) else ""


def _structured(element: Element) -> bool:
    return any(_local(c.tag) in (*GIVEN_TAGS, *FAMILY_TAGS) for c in element)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else ""


def _text(element: Element) -> str:
    return "".join(element.itertext())
