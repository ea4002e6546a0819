"""Grouping benchmark: how well and how fast Roost groups a surge's mentions by what they
are about (bot.surge.grouping), on the labelled launch-weekend set.

Not a test: it prints its figures and ends with one JSON line.

Quality, on bench/data/surge_mentions.jsonl (576 mentions, 8 topics, Korean and
English): purity (the share of mentions in a group whose most common topic is theirs;
target at least 0.85), how many groups that makes and how many hold five or more, how
much of each topic sits in its two largest groups (one a language), and, with three
groups a team named by keywords as `/roost group` names them, the share of each named
topic's mentions that landed in its group and the share of each named group that is its
topic. Speed: mentions grouped a second, one at a time as a surge brings them, over
BENCH_GROUPING_MENTIONS (10,000) made from the set with words of their own; five runs,
median and spread.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from bot.surge.grouping import Grouper, purity

LABELLED = Path(__file__).with_name("data") / "surge_mentions.jsonl"

NAMED = [
    ("Delivery delays", ("delivery", ["배송", "택배", "delivery", "shipped", "shipping"])),
    ("Fees", ("fees", ["가입비", "유심비", "유심 비용", "fee", "fees"])),
    ("Refunds", ("cancel", ["환불", "취소", "refund", "cancel"])),
]
"""Groups a team would name in this surge: (name, (its topic, its keywords))."""


def main() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load {load}")
    found = quality(rows)
    named = named_groups(rows)
    speed = throughput(rows, int(os.environ.get("BENCH_GROUPING_MENTIONS", "10000")))
    print(
        f"{len(rows)} labelled mentions in {len({r['label'] for r in rows})} topics: purity "
        f"{found['purity']:.3f} in {found['groups']} groups ({found['groups_of_5']} of five or "
        f"more); {found['kept_together']:.1%} of each topic in its two largest groups"
    )
    for name, (recall, precision) in named.items():
        print(
            f"named group {name!r}: {recall:.1%} of its topic in it, "
            f"{precision:.1%} of it its topic"
        )
    print(
        f"{speed['median']:,.0f} mentions grouped a second (runs {speed['low']:,.0f} to "
        f"{speed['high']:,.0f}; {speed['mentions']:,} mentions, {speed['groups']} groups)"
    )
    print(
        json.dumps(
            {
                "mentions": len(rows),
                "purity": round(found["purity"], 4),
                "groups": found["groups"],
                "groups_of_5": found["groups_of_5"],
                "kept_together": round(found["kept_together"], 4),
                "named_recall": {k: round(v[0], 4) for k, v in named.items()},
                "named_precision": {k: round(v[1], 4) for k, v in named.items()},
                "grouped_per_second": round(speed["median"]),
            }
        )
    )


def quality(rows: list[dict[str, str]]) -> dict[str, float]:
    grouper = Grouper()
    keys = [grouper.assign(row["text"]).key for row in rows]
    into = grouper.merge()
    pairs = [(_final(key, into), row["label"]) for key, row in zip(keys, rows, strict=True)]
    sizes = Counter(key for key, _ in pairs)
    by_topic: dict[str, Counter[int]] = {}
    for key, label in pairs:
        by_topic.setdefault(label, Counter())[key] += 1
    together = sum(sum(n for _, n in c.most_common(2)) for c in by_topic.values())
    return {
        "purity": purity(pairs),
        "groups": len(sizes),
        "groups_of_5": sum(1 for n in sizes.values() if n >= 5),
        "kept_together": together / len(pairs),
    }


def named_groups(rows: list[dict[str, str]]) -> dict[str, tuple[float, float]]:
    grouper = Grouper(named=[(name, words) for name, (_, words) in NAMED])
    assigned = [(grouper.assign(row["text"]).name, row["label"]) for row in rows]
    found = {}
    for name, (topic, _) in NAMED:
        in_group = [label for group, label in assigned if group == name]
        of_topic = [group for group, label in assigned if label == topic]
        recall = sum(1 for group in of_topic if group == name) / max(len(of_topic), 1)
        precision = sum(1 for label in in_group if label == topic) / max(len(in_group), 1)
        found[name] = (recall, precision)
    return found


def throughput(rows: list[dict[str, str]], mentions: int) -> dict[str, float]:
    rng = random.Random(7)
    extra = ["오늘", "빨리", "제발", "now", "today", "please", "ASAP", "급해요", "확인"]
    texts = [
        f"{rows[n % len(rows)]['text']} {rng.choice(extra)} {rng.randrange(1000)}"
        for n in range(mentions)
    ]
    rates, groups = [], 0
    for _ in range(5):
        grouper = Grouper()
        started = time.perf_counter()
        for text in texts:
            grouper.assign(text)
        rates.append(mentions / (time.perf_counter() - started))
        groups = len(grouper.groups)
    return {
        "median": statistics.median(rates),
        "low": min(rates),
        "high": max(rates),
        "mentions": mentions,
        "groups": groups,
    }


def _final(key: int, into: dict[int, int]) -> int:
    while key in into:
        key = into[key]
    return key


if __name__ == "__main__":
    main()
