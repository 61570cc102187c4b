#!/usr/bin/env python3
"""Summarise a py-spy profile recorded with `--format raw` (collapsed stacks).

    py-spy record -f raw -o /tmp/p.raw -d 10 -r 200 --nonblocking --pid PID
    python bench/profile_summary.py /tmp/p.raw [--top 30] [--group]

Prints the functions with the most self time and the most inclusive time (percent of samples),
and, with --group, the share of samples per area (uvicorn/httptools, Litestar, msgspec, PyJWT,
asyncpg, sqlite3, SQLAlchemy, overworld code, asyncio/uvloop, ...) by the innermost frame.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

AREAS = [
    ("litestar", "/litestar/"),
    ("uvicorn", "/uvicorn/"),
    ("httptools", "/httptools/"),
    ("msgspec", "/msgspec/"),
    ("pyjwt", "/jwt/"),
    ("asyncpg", "/asyncpg/"),
    ("sqlalchemy", "/sqlalchemy/"),
    ("sqlite3", "/sqlite3/"),
    ("argon2", "/argon2/"),
    ("structlog", "/structlog/"),
    ("prometheus", "/prometheus_client/"),
    ("orjson", "orjson"),
    ("overworld", "/overworld/"),
    ("asyncio", "/asyncio/"),
    ("uvloop", "uvloop"),
]


def split_frame(frame: str) -> tuple[str, str]:
    m = FRAME.match(frame)
    if not m:
        return frame, ""
    return m.group("func"), m.group("file")


def short(frame: str) -> str:
    func, file = split_frame(frame)
    for marker in ("site-packages/", "/overworld/", "lib/python3."):
        i = file.find(marker)
        if i >= 0:
            file = file[i + len(marker) :] if marker != "/overworld/" else "overworld/" + file[i + 11 :]
            break
    return f"{func} ({file})"


def area_of(frame: str) -> str:
    _, file = split_frame(frame)
    file = "/" + file
    for name, marker in AREAS:
        if marker in file:
            return name
    if not file:
        return "native/other"
    return "python stdlib/other"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--group", action="store_true")
    ap.add_argument("--match", help="only stacks containing this substring")
    args = ap.parse_args()

    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    with open(args.raw) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, n = line.rpartition(" ")
            count = int(n)
            if args.match and args.match not in stack:
                continue
            frames = [f for f in stack.split(";") if f]
            # py-spy puts the thread/process name first when asked; skip non-frames
            frames = [f for f in frames if "(" in f]
            if not frames:
                continue
            total += count
            # Innermost frame that is not just an idle wait.
            self_t[short(frames[-1])] += count
            for f in {short(f) for f in frames}:
                incl[f] += count
            # Area: the innermost frame's library; an idle poll counts as "idle".
            areas[area_of(frames[-1])] += count
    if not total:
        print("no samples")
        return
    print(f"samples: {total}")
    print("\nTop self time (% of samples, innermost frame):")
    for f, c in self_t.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {f}")
    print("\nTop inclusive time (% of samples with the function on the stack):")
    for f, c in incl.most_common(args.top):
        print(f"  {100 * c / total:5.1f}%  {f}")
    if args.group:
        print("\nSelf time by area (innermost frame's package):")
        for a, c in areas.most_common():
            print(f"  {100 * c / total:5.1f}%  {a}")


if __name__ == "__main__":
    main()
