#!/usr/bin/python3
"""merge_toml.py FILE: TOML tables may not repeat; merge repeated [tables] of FILE in place
(a later key replaces an earlier one). Handles the flat key = value files run.sh writes."""
import re
import sys

path = sys.argv[1]
tables, order, current = {}, [], None
for line in open(path).read().splitlines():
    m = re.match(r"^\[(.+)\]$", line.strip())
    if m:
        current = m.group(1)
        if current not in tables:
            tables[current] = {}
            order.append(current)
    elif "=" in line and current and not line.lstrip().startswith("#"):
        k, v = line.split("=", 1)
        tables[current][k.strip()] = v.strip()
with open(path, "w") as f:
    for t in order:
        f.write(f"[{t}]\n" + "".join(f"{k} = {v}\n" for k, v in tables[t].items()))
