#!/usr/bin/env python3
"""The guide's compose files in data/ parse, use only variables the daemon
knows, and every service's environment passes `nornicdb --check-config`."""
import glob
import os
import subprocess
import sys

import yaml

bin_path, data_dir = sys.argv[1], sys.argv[2]
reference = subprocess.run([bin_path, "--config-reference"], capture_output=True, text=True, check=True).stdout
known = {line.split("`")[1] for line in reference.splitlines() if line.startswith("| `NORNICDB_")}

passed = failed = 0
files = sorted(glob.glob(os.path.join(data_dir, "docker-compose.*.yml")))
if not files:
    print("no compose files found in", data_dir)
    sys.exit(1)
base_env = {k: v for k, v in os.environ.items() if not k.startswith("NORNICDB_")}
for path in files:
    doc = yaml.safe_load(open(path))
    for name, service in doc["services"].items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        unknown = [k for k in env if k.startswith("NORNICDB_") and k not in known]
        if unknown:
            print(f"FAIL {os.path.basename(path)} {name}: unknown variables {unknown}")
            failed += 1
            continue
        r = subprocess.run([bin_path, "--check-config"], env={**base_env, **env, "LANGUAGE": "C"},
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {os.path.basename(path)} {name}: --check-config exited {r.returncode}: {r.stderr.strip()}")
            failed += 1
            continue
        for k, v in env.items():
            if f"{k}={v}\t# env" not in r.stdout:
                print(f"FAIL {os.path.basename(path)} {name}: {k} not taken from the environment")
                failed += 1
                break
        else:
            passed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
