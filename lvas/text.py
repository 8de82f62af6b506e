"""Text shown to a person: control and bidirectional-formatting characters made visible.

Model answers and endpoint errors are data from outside. Printed raw, an escape sequence in them
drives the terminal (moves the cursor, rewrites earlier lines, sets the title) and a bidi override
(U+202E) makes a line read differently than it is stored. :func:`printable` escapes them.
"""

from __future__ import annotations

import unicodedata

# Unicode categories escaped: controls (C0, C1, DEL), format characters (bidi embeddings,
# overrides and isolates, zero-width characters), line and paragraph separators, surrogates.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def printable(text: object, keep: str = "\n") -> str:
    """``str(text)`` with every control or formatting character written as an escape (``\\x1b``,
    ``\\u202e``), so that it is seen, not obeyed.

    Arguments:
        text: what is to be shown.
        keep: characters left as they are (by default newlines, for multi-line output).

    Returns:
        The text, safe to print on a terminal or to put into HTML (after HTML escaping).
    """
    s = str(text)
    if s.isprintable() and "\n" not in s:  # the common case, at C speed
        return s
    out = []
    for ch in s:
        if ch not in keep and unicodedata.category(ch) in ESCAPED_CATEGORIES:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)
