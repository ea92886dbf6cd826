"""Summarise pip-audit's JSON: fail on any known vulnerability; say plainly how much could be audited.

pip-audit exits 0 when the vulnerability service cannot be reached (every package is "skipped"), which would
read as a clean bill of health. This prints audited/skipped counts, and a warning when nothing was audited.
"""

import json
import sys

doc = json.load(open(sys.argv[1], encoding="utf-8"))
deps = doc.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
vulnerable = [d for d in deps if d.get("vulns")]
audited = len(deps) - len(skipped)
print(f"pip-audit: {len(deps)} installed packages, {audited} audited, {len(skipped)} skipped, "
      f"{len(vulnerable)} with known vulnerabilities")
for d in vulnerable:
    ids = ", ".join(v["id"] for v in d["vulns"])
    print(f"  VULNERABLE {d['name']} {d.get('version')}: {ids}")
if deps and audited == 0:
    print("  warning: the vulnerability service was unreachable from here (registry mirror only): nothing was "
          "audited; run `make audit` on a machine with internet access")
sys.exit(1 if vulnerable else 0)
