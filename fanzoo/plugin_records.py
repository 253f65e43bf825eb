"""What `fanzoo plugins` reports about each plugin, and the rule that settles two plugins claiming one name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, short enough for one line of a report."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class PluginRecord:
    """One plugin: where it came from, which hooks it implements, what it registered, what went wrong."""

    name: str  # entry-point name; module name for built-ins and plugins passed in by code
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    # "ok"; "error": loaded, but something of it was left out; "failed": nothing of it is used;
    # "skipped": not loaded because FANZOO_LOAD_PLUGINS does not name it
    status: str = "ok"
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    plugin: Any = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """The package to name in a report: the distribution, or the module for built-ins."""
        return self.distribution or self.name

    def problem(self, message: str, failed: bool = False) -> None:
        self.problems.append(message)
        self.status = "failed" if failed or self.status == "failed" else "error"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "builtin": self.builtin, "status": self.status, "hooks": self.hooks,
                "provides": self.provides, "problems": self.problems}


@dataclass
class Claim:
    """A plugin's wish to register ``item`` under ``names`` (a model's name and aliases; one name otherwise)."""

    record: PluginRecord
    names: tuple[str, ...]
    item: Any


def _winner(name: str, group: list[Claim]) -> tuple[Claim, str] | None:
    builtins = [c for c in group if c.record.builtin]
    if len(builtins) == 1:
        return builtins[0], "built-ins win"
    owners = [c for c in group if not c.record.builtin and c.record.name == name]
    if not builtins and len(owners) == 1:
        return owners[0], f"its entry point is named {name!r}"
    return None


def settle_claims(kind: str, claims: list[Claim], conflicts: dict[tuple[str, str], list[str]]) -> list[Claim]:
    """The claims that are registered, in order. A name claimed twice goes to the built-in, else to the plugin
    whose entry point has that name; otherwise to nobody, and ``conflicts`` records every claimant."""
    by_name: dict[str, list[Claim]] = {}
    kept: list[Claim] = []
    for claim in claims:
        twice = [n for n in claim.names if any(c.record is claim.record for c in by_name.get(n, []))]
        if twice:
            claim.record.problem(f"{kind} {twice[0]!r} is registered twice by this plugin; the second is left out")
            continue
        for name in claim.names:
            by_name.setdefault(name, []).append(claim)
        kept.append(claim)
    losers: set[int] = set()
    for name, group in by_name.items():
        if len(group) < 2:
            continue
        settled = _winner(name, group)
        if settled is None:
            labels = list(dict.fromkeys(c.record.label for c in group))
            conflicts[(kind, name)] = labels
            for claim in group:
                losers.add(id(claim))
                others = " and ".join(label for label in labels if label != claim.record.label) or "itself"
                claim.record.problem(f"{kind} {name!r} is also registered by {others}; neither is used")
            continue
        winner, why = settled
        for claim in group:
            if claim is not winner:
                losers.add(id(claim))
                claim.record.problem(f"{kind} {name!r} is already registered by {winner.record.label} ({why}); "
                                     "this one is left out")
    return [c for c in kept if id(c) not in losers]
