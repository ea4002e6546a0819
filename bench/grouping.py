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
median and spread; and over as many posts that share no topic at all (random words), the
worst case, where the groups reach their cap (bot.surge.grouping.MAX_GROUPS).

With kiwipiepy installed beside Roost (`.venv/bin/pip install kiwipiepy==0.24.1`; Roost
does not depend on it), the same quality is measured with its nouns and verb stems in
place of Roost's features, with the time and memory its model takes to load.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
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
    mentions = int(os.environ.get("BENCH_GROUPING_MENTIONS", "10000"))
    speed = throughput(_like_the_set(rows, mentions))
    worst = throughput(_unlike(mentions))
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
    for name, found_speed in (("like the set", speed), ("all unlike", worst)):
        print(
            f"{found_speed['median']:,.0f} mentions grouped a second, {name} (runs "
            f"{found_speed['low']:,.0f} to {found_speed['high']:,.0f}; "
            f"{found_speed['mentions']:,} mentions, {found_speed['groups']} groups)"
        )
    analyser = kiwi_quality(rows)
    if analyser is not None:
        print(
            f"kiwipiepy in place of Roost's features: purity {analyser['purity']:.3f} in "
            f"{analyser['groups']} groups; its model loaded in {analyser['load_s']:.1f} s, "
            f"the process at {analyser['rss_mb']:,.0f} MB"
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
                "grouped_per_second_unlike": round(worst["median"]),
                "kiwi_purity": round(analyser["purity"], 4) if analyser else None,
            }
        )
    )


def quality(
    rows: list[dict[str, str]], read: Callable[[str], Counter[str]] | None = None
) -> dict[str, float]:
    grouper = Grouper(read=read)
    pairs = [(grouper.assign(row["text"]).key, row["label"]) for row in rows]
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


def _like_the_set(rows: list[dict[str, str]], mentions: int) -> list[str]:
    rng = random.Random(7)
    extra = ["오늘", "빨리", "제발", "now", "today", "please", "ASAP", "급해요", "확인"]
    return [
        f"{rows[n % len(rows)]['text']} {rng.choice(extra)} {rng.randrange(1000)}"
        for n in range(mentions)
    ]


def _unlike(mentions: int) -> list[str]:
    """Posts of random words, Hangul and Latin, that share no topic."""
    rng = random.Random(11)
    syllables = [chr(0xAC00 + n) for n in range(0, 11172, 37)]
    words = ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(3000)]
    words += [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 9))) for _ in range(3000)
    ]
    return [" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(mentions)]


def throughput(texts: list[str]) -> dict[str, float]:
    rates, groups = [], 0
    for _ in range(5):
        grouper = Grouper()
        started = time.perf_counter()
        for text in texts:
            grouper.assign(text)
        rates.append(len(texts) / (time.perf_counter() - started))
        groups = len(grouper.groups)
    return {
        "median": statistics.median(rates),
        "low": min(rates),
        "high": max(rates),
        "mentions": len(texts),
        "groups": groups,
    }


def kiwi_quality(rows: list[dict[str, str]]) -> dict[str, float] | None:
    """The labelled set grouped with kiwipiepy's nouns and verb stems as the features, if
    kiwipiepy is installed; None if it is not."""
    try:
        from kiwipiepy import Kiwi  # type: ignore[import-not-found]
    except ImportError:
        return None
    import resource

    import bot.surge.grouping as grouping

    started = time.perf_counter()
    kiwi = Kiwi()
    kiwi.tokenize("준비")
    load = time.perf_counter() - started

    def analysed(text: str) -> Counter[str]:
        found: Counter[str] = Counter()
        for token in kiwi.tokenize(text):
            word = token.form.casefold()
            if token.tag == "SL" and len(word) >= 3 and word not in grouping.STOP_WORDS:
                found[f"w:{grouping._stem_latin(word)}"] += 1
            elif token.tag in ("NNG", "NNP", "XR") and len(word) >= 2:
                found[f"w:{word}"] += 1
            elif token.tag in ("VV", "VA"):
                found[f"w:{word}"] += 1
        return found

    found = quality(rows, read=analysed)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"purity": found["purity"], "groups": found["groups"], "load_s": load, "rss_mb": rss}


if __name__ == "__main__":
    main()
