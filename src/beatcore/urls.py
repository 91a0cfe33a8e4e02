"""Store URLs as shown to people: passwords masked for logs, errors and status output."""

from __future__ import annotations

import re

# Where one URL of a multi-URL form ("sentinel://:pw@s1;sentinel://:pw@s2") starts: a ";"
# followed by a scheme. A ";" anywhere else (RFC 3986 allows it in a password) stays inside.
_NEXT_URL = re.compile(r";(?=\s*[A-Za-z][A-Za-z0-9+.\-]*://)")


def split_urls(text: str) -> list[str]:
    """Return the URLs of a multi-URL form (``sentinel://a;sentinel://b``), or ``[text]``.

    Only a ``;`` followed by a scheme separates two URLs, so a password holding ``;`` stays
    whole.
    """
    return _NEXT_URL.split(text)


def mask_password(url: str) -> str:
    """Return ``url`` with every password replaced by ``****``.

    Called wherever a store URL reaches a log line, an error message or status output. Any
    character may stand in a password, raw or percent-encoded (``;`` and ``,`` are allowed
    there by RFC 3986): the password runs from the first ``:`` of the part after ``scheme://``
    to the last ``@`` of that URL. Taking the last ``@``, not the end of the host part, also
    hides a password typed with a raw ``/``, ``?``, ``#`` or ``@`` (which a parser reads as
    the path or query); an ``@`` in a query value then masks more than the password.
    """
    return ";".join(_mask_one(part) for part in split_urls(url))


def _mask_one(url: str) -> str:
    scheme_end = url.find("://")
    if scheme_end == -1:
        return url
    start = scheme_end + 3
    if url[start : start + 1] in ("", "/", "?", "#"):
        return url  # no authority (sqlite:///path, memory://): nothing to mask
    at = url.rfind("@", start)
    if at == -1:
        return url
    colon = url.find(":", start, at)
    if colon == -1:
        return url  # a user name and no password
    return url[: colon + 1] + "****" + url[at:]
