"""Run checkov on infra/ with infra/.checkov.yaml and fail on anything it did not pass.

Run with the checkov venv's Python (`make infra-check`). Fails (exit 1) when
- any check failed (the config's skip list, each entry justified there, is the only way past one);
- checkov could not parse a Bicep file (an unparsed file is otherwise silently unchecked: checkov's parser
  lags Bicep's grammar, e.g. it rejects a function call whose arguments start on the next line).
Checks skipped in the config are not run at all, so they do not appear in the counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def main() -> int:
    checkov = Path(sys.executable).with_name("checkov")
    result = subprocess.run(  # noqa: S603 (a fixed command line, no outside input)
        [str(checkov), "--config-file", str(INFRA / ".checkov.yaml"), "--output", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        print("checkov: no JSON report (see output above)")
        return 1
    if isinstance(report, list):  # one entry per framework
        report = next(r for r in report if r.get("check_type") == "bicep")
    summary = report["summary"]
    results = report.get("results", {})
    failed = results.get("failed_checks", [])
    files = sorted(INFRA.rglob("*.bicep"))

    for check in failed:
        print(f"FAILED {check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})")
    if summary.get("parsing_errors"):
        unparsed = results.get("parsing_errors")
        print(f"checkov could not parse {summary['parsing_errors']} Bicep file(s): {unparsed}")
    print(
        f"checkov (bicep): {summary['passed']} checks passed; {summary['failed']} failed; "
        f"{summary.get('parsing_errors', 0)} parsing errors; {len(files)} Bicep files "
        f"(skip list with reasons: infra/.checkov.yaml)"
    )
    return 1 if failed or summary.get("parsing_errors") else 0


if __name__ == "__main__":
    sys.exit(main())
