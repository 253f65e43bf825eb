"""RESULTS.md, partly re-measured: replace the sections a new run has and keep the others (report --update)."""
from __future__ import annotations

from itertools import takewhile


def sections(markdown: str) -> tuple[str, dict[str, str]]:
    """The text before the first ``## `` heading, and each section keyed by its heading line."""
    head, *parts = markdown.split("\n## ")
    return head, {("## " + part).split("\n", 1)[0]: "## " + part.rstrip("\n") + "\n" for part in parts}


def machine_facts(section: str) -> dict[str, str]:
    """``- name value`` lines of a Machine section as {name: value}; the CPU line as a whole."""
    facts = {}
    for line in section.splitlines()[1:]:
        if not line.startswith("- "):
            continue
        key, _, value = line[2:].partition(": ") if line.startswith("- CPU:") else line[2:].rpartition(" ")
        facts[key] = value
    return facts


GOALS = "## Goals"


def _table_rows(section: str) -> dict[str, str]:
    """The rows of a section's table, keyed by their first cell (the header and its rule excepted)."""
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return {line.split(" | ")[0]: line for line in rows[1:]}


def merge_goals(old: str, fresh: str, when: str) -> str:
    """The goal table with the rows a partial run measured replaced and the others kept: one goal re-measured
    (say an accuracy row after a new model) must not drop the goals that run did not touch."""
    rows, again = _table_rows(old), _table_rows(fresh)
    if not again:
        return old
    rows.update(again)
    lines = old.rstrip("\n").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| "))
    end = first + 2 + sum(1 for _ in takewhile(lambda line: line.startswith("| "), lines[first + 2:]))
    names = "; ".join(k[2:] for k in again)  # a goal's name may hold commas
    merged = lines[:first + 2] + list(rows.values()) + ["", f"Rows re-measured on {when}: {names}."] + lines[end:]
    return "\n".join(merged) + "\n"


def update(existing: str, fresh: str, when: str, other_machine: bool = False) -> str:
    """Replace the sections of ``existing`` that ``fresh`` has (Machine excepted), keep the others.

    For re-measuring one group (say accuracy after a new model is trained) without re-running every
    latency benchmark; the header records which sections came from which run. Numbers from another
    machine or other versions are refused: they would sit under the first run's description; with
    ``other_machine`` they are added, each section saying which machine and versions it comes from.
    """
    head, old = sections(existing)
    _, new = sections(fresh)
    before, after = (machine_facts(part.get("## Machine", "")) for part in (old, new))
    # sections rendered from committed files rather than this run come out as they were: not re-measured
    new = {heading: text for heading, text in new.items() if heading == "## Machine" or old.get(heading) != text}
    changed = {k: (before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]}
    if changed and not other_machine:
        raise ValueError("the new run is not on the same machine and versions; re-run everything "
                         f"(bash tools/benchmark.sh), or add --other-machine: {changed}")
    # a run that measured every goal row replaces the table whole; one that measured some merges them row by row
    merge = GOALS in new and GOALS in old and not _table_rows(old[GOALS]).keys() <= _table_rows(new[GOALS]).keys()
    if changed:
        facts = "; ".join(f"{k} {v}" if k != "CPU" else v for k, v in after.items())
        for heading, text in list(new.items()):
            if heading != "## Machine" and not (heading == GOALS and merge):  # merged rows say it below
                title, _, body = text.partition("\n\n")
                new[heading] = f"{title}\n\nMeasured on {when} UTC on another machine than the sections above: {facts}.\n\n{body}"
    if merge:
        where_rows = f" (on {after.get('CPU', 'another machine')}; versions as in the sections measured then)"
        new[GOALS] = merge_goals(old[GOALS], new[GOALS], f"{when} UTC" + (where_rows if changed else ""))
    new.pop("## Machine", None)
    where = "on another machine (see the section)" if changed else "in a later run on the same machine"
    note = f"Re-measured on {when} UTC, {where}: {', '.join(h[3:] for h in new)}."
    merged = {heading: new.pop(heading, text) for heading, text in old.items()}
    merged.update(new)
    head = head.rstrip("\n") + "\n\n" + note + "\n"
    return head + "\n" + "\n".join(merged.values())
