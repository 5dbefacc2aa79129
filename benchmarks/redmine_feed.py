"""The Redmine change feed's cost per poll, read from Redmine's own database (MariaDB) loaded
with the shared benchmark dataset (../shared/bench/gen_dataset.py).

    tests/services/redmine.sh start bench 3121     # prints URL KEY DBURL
    .venv/bin/python benchmarks/redmine_feed.py --issues 100000 \
        --db-url mysql+pymysql://root@127.0.0.1:3306/redmine_helpdesk_bench

Loads the dataset straight into Redmine's tables (benchmarks/redmine_dataset.py), unless they
hold it already, then times the feed's one query per poll: an idle poll (nothing new) and polls
that read a full batch of 100 journals.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from helpdesk import create_app
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.database import dispose_database, redmine_database
from helpdesk.integrations.redmine.feed import CHANGES, Cursor, changes_since
from helpdesk.tasks.backends.base import SameIds
from redmine_dataset import GENERATOR, dataset_path, ensure_dataset, load_redmine


class Source:
    """The backend as the feed sees it, with Redmine's ids kept; the database way never calls
    the REST client (nothing listens at its address)."""

    client = RedmineClient("http://127.0.0.1:9", "", 1)
    user_ids = SameIds()


def measure(db_url: str, polls: int) -> None:
    """Time an idle poll and a poll of a full batch, `polls` times each."""
    app = create_app("testing", REDMINE_DB_URL=db_url)
    with app.app_context():
        source = Source()
        start = Cursor.parse(changes_since(source, None).cursor)
        counts = {
            "issues": "SELECT COUNT(*) FROM issues",
            "journals": "SELECT COUNT(*) FROM journals",
        }
        engine = create_engine(db_url)
        with engine.connect() as connection:
            sizes = {name: connection.scalar(text(sql)) for name, sql in counts.items()}
        engine.dispose()
        print(f"Redmine database: {sizes['issues']:,} issues, {sizes['journals']:,} journals")
        cases = {
            "idle poll (nothing new)": Cursor(start.journal, {}, start.since).dump(),
            "poll reading 100 new journals": Cursor(start.journal - 100, {}, start.since).dump(),
        }
        for name, cursor in cases.items():
            changes_since(source, cursor, 100)  # warm the pool and the server's caches
            times = []
            for _ in range(polls):
                began = time.perf_counter()
                batch = changes_since(source, cursor, 100)
                times.append((time.perf_counter() - began) * 1000)
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{name}: {len(batch.changes)} changes, median {statistics.median(times):.2f} ms,"
                f" p99 {p99:.2f} ms over {polls} polls"
            )
        engine = redmine_database()
        assert engine is not None
        params = {"after": start.journal - 100, "gaps": [], "limit": 100}
        times = []
        with engine.connect() as connection:
            for _ in range(polls):
                began = time.perf_counter()
                connection.execute(CHANGES, params).all()
                times.append((time.perf_counter() - began) * 1000)
        times.sort()
        print(f"its query alone: median {statistics.median(times):.2f} ms over {polls} runs")
    dispose_database(app)


def main() -> None:
    """Load if needed, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--dataset", help="the dataset file (default: as the loader names it)")
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--polls", type=int, default=200)
    args = parser.parse_args()
    dataset = Path(args.dataset) if args.dataset else dataset_path(args.issues)
    ensure_dataset(dataset, args.issues, GENERATOR)
    load_redmine(dataset, args.db_url)
    measure(args.db_url, args.polls)


if __name__ == "__main__":
    main()
