"""Performance and quality scripts (`make perf`); helpers they share."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def stack_on_replay(replay_state: Any, prefix: str) -> Iterator[tuple[Any, Any]]:
    """(stack, replay server): a throwaway local stack whose OpenRouter is a replay server on
    loopback, this process's environment pointed at both; stopped on the way out."""
    from infra import local_stack
    from infra.replay_server import ReplayServer

    replay = ReplayServer(replay_state).start()
    state = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        stack = local_stack.up(state, {"OPENROUTER_BASE_URL": replay.base_url}, log=lambda m: None)
        os.environ.update(stack.env)
        os.environ["OPENROUTER_BASE_URL"] = replay.base_url
        yield stack, replay
    finally:
        local_stack.down(state, log=lambda m: None)
        replay.stop()
