"""Reading HTML in tests: the markup of one element, found by its id."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)


class _Finder(HTMLParser):
    """Finds where the element with an id starts and where its end tag starts, as (line, column)."""

    def __init__(self, element_id: str) -> None:
        super().__init__(convert_charrefs=False)
        self.element_id = element_id
        self.start: tuple[int, int] | None = None
        self.end_tag: tuple[int, int] | None = None
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.end_tag is not None or (tag in VOID and self.start is not None):
            return
        if self.start is None:
            if dict(attrs).get("id") == self.element_id:
                self.start = self.getpos()
                if tag in VOID:
                    self.end_tag = self.start
                self.depth = 1
            return
        self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.start is None or self.end_tag is not None or tag in VOID:
            return
        self.depth -= 1
        if self.depth == 0:
            self.end_tag = self.getpos()


def element(html: str, element_id: str) -> str:
    """The outer HTML of the element whose id is ``element_id`` (AssertionError if there is none)."""
    finder = _Finder(element_id)
    finder.feed(html)
    finder.close()
    assert finder.start is not None, f"no element #{element_id}"
    assert finder.end_tag is not None, f"element #{element_id} does not end"
    line_starts = [0]
    for line in html.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        return line_starts[position[0] - 1] + position[1]

    return html[offset(finder.start) : html.index(">", offset(finder.end_tag)) + 1]
