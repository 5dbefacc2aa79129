"""Turn run_load.py results into Markdown tables, so docs/PERFORMANCE.md quotes them unchanged.

    .venv/bin/python benchmarks/report.py benchmarks/results/sqlite-100k-*.json
    .venv/bin/python benchmarks/report.py --scale benchmarks/results/sqlite-100k-*.json \
        benchmarks/results/sqlite-1m-*.json
    .venv/bin/python benchmarks/report.py --targets benchmarks/results/{sqlite,postgresql}-*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SCALE_TARGET = 1.25  # the large dataset's latency as a multiple of the small one's, at most


def load(path: str) -> dict[str, Any]:
    """One results document."""
    return json.loads(Path(path).read_text())


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure, or a dash when there is none."""
    return "–" if value is None else f"{value:,.{digits}f}"


def cpu(figures: dict[str, Any]) -> str:
    """The server's CPU per request and, in brackets, the whole machine's but wrk's (the
    database, Redis and the other server included); a dash for runs made before they were kept."""
    server, machine = figures.get("server_cpu_ms"), figures.get("machine_cpu_ms")
    return "–" if server is None else f"{server:.2f} ({fmt(machine, 2)})"


def serving(doc: dict[str, Any]) -> str:
    """How many processes served each side, for runs that recorded it."""
    processes = doc.get("processes")
    if not processes:
        return ""
    return f"; {processes['helpdesk']} helpdesk process(es), {processes['floor']} floor worker(s)"


def figures_table(doc: dict[str, Any]) -> str:
    """Medians per endpoint and client count, helpdesk beside floor, with the ratio."""
    lines = [
        f"**{doc['label']}** — {doc['counts']['tasks']:,} tasks, {doc['database']}, "
        f"{doc['repetitions']} × {doc['duration_s']} s per figure (medians), "
        f"wrk on CPU {doc['wrk_cpu']}, run {doc['started_at']}{serving(doc)}",
        "",
        "| endpoint | clients | helpdesk req/s | p50 ms | p99 ms | floor req/s | p50 ms | "
        "p99 ms | ratio | noise (cores) hd / floor | CPU ms per request hd / floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in doc["summary"]:
        hd, fl = row.get("helpdesk") or {}, row.get("floor") or {}
        errors = hd.get("errors") or 0
        note = f" ({errors} errors)" if errors else ""
        lines.append(
            f"| {row['endpoint']}{note} | {row['connections']} | {fmt(hd.get('rps'))} | "
            f"{fmt(hd.get('p50_ms'), 2)} | {fmt(hd.get('p99_ms'), 2)} | {fmt(fl.get('rps'))} | "
            f"{fmt(fl.get('p50_ms'), 2)} | {fmt(fl.get('p99_ms'), 2)} | "
            f"{fmt(row.get('ratio'), 2)} | {fmt(hd.get('noise_cores'), 2)} / "
            f"{fmt(fl.get('noise_cores'), 2)} | {cpu(hd)} / {cpu(fl)} |"
        )
    lines.append("")
    for name, processes in doc["peak_rss_mb"].items():
        listed = ", ".join(f"{role.split(':')[0]} {mb:.0f} MB" for role, mb in processes.items())
        lines.append(f"Peak RSS (VmHWM) {name}: {listed}.  ")
    lines.append("")
    for check in doc["targets"]:
        lines.append(
            f"- {'met' if check['met'] else '**not met**'}: {check['target']} "
            f"(measured {check['value']})"
        )
    return "\n".join(lines)


def multiple(value: float | None) -> str:
    """A large-to-small multiple, in bold when over the target."""
    text = fmt(value, 2)
    return f"**{text}**" if value is not None and value > SCALE_TARGET else text


def scale_table(base: dict[str, Any], large: dict[str, Any]) -> str:
    """The helpdesk's latency at the large dataset as a multiple of the small one's."""
    lines = [
        f"Helpdesk latency, {large['label']} ÷ {base['label']} (target ≤ {SCALE_TARGET}; "
        "**bold** where missed):",
        "",
        "| endpoint | clients | p50 small → large ms | × | p99 small → large ms | × |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    small_rows = {(r["endpoint"], r["connections"]): r for r in base["summary"]}
    for row in large["summary"]:
        other = small_rows.get((row["endpoint"], row["connections"]))
        if not other or "helpdesk" not in row or "helpdesk" not in other:
            continue
        a, b = other["helpdesk"], row["helpdesk"]
        p50 = b["p50_ms"] / a["p50_ms"] if a["p50_ms"] else None
        p99 = b["p99_ms"] / a["p99_ms"] if a["p99_ms"] else None
        lines.append(
            f"| {row['endpoint']} | {row['connections']} | {fmt(a['p50_ms'], 2)} → "
            f"{fmt(b['p50_ms'], 2)} | {multiple(p50)} | {fmt(a['p99_ms'], 2)} → "
            f"{fmt(b['p99_ms'], 2)} | {multiple(p99)} |"
        )
    return "\n".join(lines)


def targets_table(docs: list[dict[str, Any]]) -> str:
    """The issue's targets for several runs side by side (8 clients)."""
    names = [check["target"] for check in docs[0]["targets"]]
    lines = [
        "| target | " + " | ".join(doc["label"] for doc in docs) + " |",
        "|---|" + "---:|" * len(docs),
    ]
    for name in names:
        cells = []
        for doc in docs:
            check = next((c for c in doc["targets"] if c["target"] == name), None)
            if check is None:
                cells.append("–")
                continue
            verdict = "met" if check["met"] else "**not met**"
            cells.append(f"{fmt(check['value'], 2)} {verdict}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the tables for the given results files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON files written by run_load.py")
    parser.add_argument("--scale", action="store_true", help="compare two runs' latency")
    parser.add_argument("--targets", action="store_true", help="targets of several runs")
    args = parser.parse_args()
    docs = [load(path) for path in args.results]
    if args.scale:
        if len(docs) != 2:
            parser.error("--scale takes the small run's file, then the large run's")
        print(scale_table(docs[0], docs[1]))
        return
    if args.targets:
        print(targets_table(docs))
        return
    for doc in docs:
        print(figures_table(doc))
        print()


if __name__ == "__main__":
    main()
