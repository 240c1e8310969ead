"""The contract between `benchmark` and `code_runner`: a batch of cases in, verdicts out."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LAYERS = ("uid", "seccomp", "landlock", "namespaces", "hook")


class CodeCase(BaseModel):
    """One solution and its hidden tests. `tests` reaches the sandbox only after the solution's
    process exists, and never that process itself."""
    model_config = ConfigDict(extra="forbid")
    case_id: str = Field(min_length=1, max_length=300)
    solution: str = Field(max_length=400_000)
    tests: str = Field(min_length=1, max_length=400_000)
    setup: str = Field("", max_length=100_000)
    entry_point: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(5.0, gt=0, le=60)


class RunBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[CodeCase] = Field(min_length=1, max_length=500)


class Isolation(BaseModel):
    """What actually held for a run (measured in the sandboxed processes, not configured)."""
    uid: int | None = None                 # the uid the solution ran as
    separate_uid: bool = False             # a uid of its own, not the runner's
    seccomp: bool = False                  # installed in the judge and the solution process
    landlock: int = 0                      # Landlock ABI applied (0: none)
    namespaces: list[str] = []             # of mnt, net, ipc, uts, pid
    workdir: str = "read-only"             # "tmpfs" (private, size and inode quota) or read-only
    hook: bool = False                     # the audit hook (last layer, not a boundary)
    runtime: str = ""                      # the sandbox interpreter's version

    def layers(self) -> list[str]:
        held = {"uid": self.uid not in (None, 0), "seccomp": self.seccomp, "landlock": self.landlock > 0,
                "namespaces": {"net", "pid", "ipc", "mnt"} <= set(self.namespaces), "hook": self.hook}
        return [name for name in LAYERS if held[name]]

    def label(self) -> str:
        """One line for results and reports, e.g. 'uid+seccomp+landlock(7)+ns(mnt,net,ipc,uts,pid)+tmpfs+hook'."""
        parts = []
        if self.uid not in (None, 0):
            parts.append("uid")
        if self.seccomp:
            parts.append("seccomp")
        if self.landlock:
            parts.append(f"landlock({self.landlock})")
        if self.namespaces:
            parts.append(f"ns({','.join(self.namespaces)})")
        if self.workdir == "tmpfs":
            parts.append("tmpfs")
        if self.hook:
            parts.append("hook")
        return "+".join(parts) or "none"


class CodeVerdict(BaseModel):
    case_id: str
    status: Literal["passed", "failed", "errored"]   # errored: not judged (sandbox unavailable...)
    detail: str = ""
    wall_s: float = 0.0
    isolation: Isolation | None = None
    weak: list[str] = []      # required layers that were missing, allowed by SANDBOX_ALLOW_WEAK


class BatchResult(BaseModel):
    required: list[str]
    weak_mode: bool
    results: list[CodeVerdict]
