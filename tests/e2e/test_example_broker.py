"""The example project's filesystem broker hands a consumer only whole message files.

kombu's own filesystem transport creates a message file in the queue folder and writes it
afterwards; a worker listing the folder in between read an empty file and died on
``JSONDecodeError`` (seen in a CI run). The example project writes through a staging folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.processes import EXAMPLES

PROBE = """
import json, threading
from pathlib import Path
import proj

received = []
with proj.app.connection_for_write() as writer, proj.app.connection_for_read() as reader:
    assert isinstance(writer.transport, proj.WholeFileTransport), type(writer.transport)
    out, inbox = writer.SimpleQueue("probe"), reader.SimpleQueue("probe")

    def consume() -> None:
        while len(received) < 300:
            try:
                message = inbox.get(timeout=10)
            except inbox.Empty:
                return
            received.append(message.payload)
            message.ack()

    consumer = threading.Thread(target=consume)
    consumer.start()
    for number in range(300):
        out.put({"number": number, "pad": "x" * 4096})
    consumer.join()
print(json.dumps({
    "received": sorted(payload["number"] for payload in received),
    "staging": sorted(p.name for p in (Path(proj.VAR) / "broker" / "staging").iterdir()),
}))
"""


def test_a_consumer_reads_every_message_whole_while_they_are_written(tmp_path: Path) -> None:
    env = {**os.environ, "PROJ_VAR_DIR": str(tmp_path)}
    env.pop("PROJ_BROKER_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"received": list(range(300)), "staging": []}
