#!/usr/bin/env python3
"""Expected Autobahn verdicts for scripts/autobahn.sh (standard library only).

    autobahn_compare.py compact OUTDIR EXPECTED.json
        writes the verdicts of the report in OUTDIR (index.json, one agent)
        as {case_id: [behavior, behaviorClose]} in case order, one per line

    autobahn_compare.py check EXPECTED.json OUTDIR LABEL CASES_JSON
        compares the report in OUTDIR with EXPECTED.json over the cases that
        CASES_JSON (wstest patterns, e.g. ["1.*", "6.12.*"]) selects: prints
        one FAIL line per case whose verdict differs, that is missing from
        the run or from EXPECTED.json, or whose verdict is FAILED (by
        summarize.py's buckets, even when expected), with its description;
        then `autobahn-compare LABEL: N passed, N failed` (one check per
        compared case). Exit status 1 if any failed, 2 if there is no report.
"""

import json
import os
import re
import sys


def case_key(case_id):
    return [int(p) if p.isdigit() else p for p in str(case_id).split(".")]


def load_report(outdir):
    path = os.path.join(outdir, "index.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if len(index) != 1:
        raise SystemExit("autobahn_compare: expected one agent in %s, found %s" % (path, sorted(index)))
    return next(iter(index.values()))


def verdicts(cases):
    return {cid: [r.get("behavior"), r.get("behaviorClose")] for cid, r in cases.items()}


def is_failed(verdict):
    """summarize.py's FAILED bucket for either verdict."""
    behavior, close = verdict
    if behavior not in ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"):
        return True
    if behavior == "UNIMPLEMENTED":
        return False
    return close not in ("OK", "INFORMATIONAL", "WRONG CODE", "FAILED BY CLIENT", "UNIMPLEMENTED")


def selector(patterns):
    """wstest's case selection: an entry with `*` is a regex prefix match
    (`.` literal, `*` = `.*`), an entry without is an exact case id."""
    regexes = [re.compile(p.replace(".", r"\.").replace("*", ".*")) for p in patterns if "*" in p]
    exact = {p for p in patterns if "*" not in p}
    return lambda cid: cid in exact or any(r.match(cid) for r in regexes)


def description(outdir, result):
    """The case's description from its per-case report, shortened."""
    name = result.get("reportfile")
    if not name:
        return ""
    try:
        with open(os.path.join(outdir, name), encoding="utf-8") as f:
            text = json.load(f).get("description", "")
    except (OSError, ValueError):
        return ""
    text = re.sub(r"<[^>]+>", "", text)
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def fmt(verdict):
    return "%s/%s" % tuple(verdict) if verdict else "-"


def compact(outdir, expected_path):
    cases = load_report(outdir)
    if cases is None:
        print("autobahn_compare: no index.json in %s" % outdir)
        return 2
    v = verdicts(cases)
    lines = ['  %s: %s' % (json.dumps(cid), json.dumps(v[cid])) for cid in sorted(v, key=case_key)]
    with open(expected_path, "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    return 0


def check(expected_path, outdir, label, cases_json):
    selected = selector(json.loads(cases_json))
    with open(expected_path, encoding="utf-8") as f:
        expected = {cid: v for cid, v in json.load(f).items() if selected(cid)}
    cases = load_report(outdir)
    if cases is None:
        print("FAIL %s: no report (index.json) in %s" % (label, outdir))
        print("autobahn-compare %s: 0 passed, 1 failed" % label)
        return 2
    got = {cid: v for cid, v in verdicts(cases).items() if selected(cid)}
    passed = failed = 0
    for cid in sorted(set(expected) | set(got), key=case_key):
        want, have = expected.get(cid), got.get(cid)
        problem = None
        if have is None:
            problem = "missing from the run (expected %s)" % fmt(want)
        elif want is None:
            problem = "not in %s (got %s)" % (os.path.basename(expected_path), fmt(have))
        elif want != have:
            problem = "expected %s, got %s" % (fmt(want), fmt(have))
        elif is_failed(have):
            problem = "FAILED verdict %s (as recorded)" % fmt(have)
        if problem is None:
            passed += 1
            continue
        failed += 1
        result = cases.get(cid, {})
        extra = ""
        if have is not None and result.get("remoteCloseCode") is not None:
            extra = " remoteCloseCode=%s" % result.get("remoteCloseCode")
        desc = description(outdir, result)
        print("FAIL %s %s: %s%s%s" % (label, cid, problem, extra, (" -- " + desc) if desc else ""))
    print("autobahn-compare %s: %d passed, %d failed" % (label, passed, failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "compact":
        return compact(argv[2], argv[3])
    if len(argv) == 6 and argv[1] == "check":
        return check(*argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
