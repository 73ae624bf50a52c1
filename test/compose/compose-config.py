"""Reads many Compose files with docker-compose v1's own loader in one process, as
`docker-compose -f FILE config` does (validation, interpolation, extends, merge keys), and prints
for each file either the error or the configuration docker-compose would run, as JSON.

Usage: python3 compose-config.py < paths.json   (a JSON list of file paths)
Output: a JSON list of {"ok": true, "config": {...}} or {"ok": false, "error": "..."}.
Starting docker-compose once per file costs most of a second; a fuzz run checks hundreds.
"""
import json
import os
import sys

import yaml
from compose.config import config
from compose.config.environment import Environment
from compose.config.serialize import serialize_config


def load(path):
    base = os.path.dirname(os.path.abspath(path))
    env = Environment.from_env_file(base)
    details = config.find(base, [path], env)
    loaded = config.load(details, True)
    # the text `docker-compose config` prints, read back: plain data
    return yaml.safe_load(serialize_config(loaded, escape_dollar=False))


def main():
    out = []
    for path in json.load(sys.stdin):
        try:
            out.append({"ok": True, "config": load(path)})
        except Exception as e:  # every loader error is a refusal of the file
            out.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout, default=str)


main()
