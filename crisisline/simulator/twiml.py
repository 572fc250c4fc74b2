"""Parse TwiML documents into a small immutable tree the simulator can follow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.etree import ElementTree

_WHITESPACE = re.compile(r"\s+")
# defusedxml is not a dependency: instead any DTD is refused outright, which rules out entity
# expansion attacks; ElementTree never fetches external resources.
_FORBIDDEN = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class TwimlError(ValueError):
    """The service answered with something that is not a TwiML <Response> document."""


@dataclass(frozen=True)
class TwimlNode:
    """One TwiML element: its tag, attributes, whitespace-collapsed text and child elements."""

    tag: str
    attrs: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    children: tuple[TwimlNode, ...] = ()

    def attr(self, name: str, default: str = "") -> str:
        """The attribute's value, or `default` when it is absent or blank."""
        value = self.attrs.get(name, "").strip()
        return value or default

    def flag(self, name: str, default: bool = False) -> bool:
        """A TwiML boolean attribute ("true"/"false")."""
        value = self.attrs.get(name, "").strip().lower()
        if not value:
            return default
        return value == "true"

    def number(self, name: str, default: float) -> float:
        """A numeric attribute; a missing or unreadable value gives `default`, as Twilio does."""
        try:
            return float(self.attrs.get(name, "").strip())
        except ValueError:
            return default

    def child(self, tag: str) -> TwimlNode | None:
        """The first child element with this tag."""
        return next((node for node in self.children if node.tag == tag), None)


def parse_twiml(document: str) -> TwimlNode:
    """Parse TwiML; raise TwimlError unless it is well-formed XML rooted at <Response>."""
    text = document.strip()
    if not text:
        raise TwimlError("the document is empty")
    if _FORBIDDEN.search(text):
        raise TwimlError("the document declares a DTD or entities, which TwiML never needs")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - DTDs refused above
    except ElementTree.ParseError as exc:
        raise TwimlError(f"the document is not well-formed XML ({exc})") from exc
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    return _convert(root)


def _convert(element: ElementTree.Element) -> TwimlNode:
    text = _WHITESPACE.sub(" ", "".join(element.itertext())).strip()
    return TwimlNode(
        tag=element.tag,
        attrs=dict(element.attrib),
        text=text,
        children=tuple(_convert(child) for child in element),
    )
