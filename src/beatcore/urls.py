"""Store URLs as shown to people: passwords masked for logs, errors and status output."""

from __future__ import annotations

import re

# Every "scheme://user:password@" in the text, also in multi-host forms such as
# "sentinel://:pw@s1:26379;sentinel://:pw@s2:26379".
_PASSWORD = re.compile(r"(?P<pre>://[^:@/;,?#]*:)[^@;]*@")


def mask_password(url: str) -> str:
    """Return ``url`` with every password replaced by ``****``.

    Called wherever a store URL reaches a log line, an error message or status output.
    """
    return _PASSWORD.sub(r"\g<pre>****@", url)
