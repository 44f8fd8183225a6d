#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite fuzzingclient report.

Usage:
  summarize.py [REPORT] [--agent NAME] [--cases PAT,...] [--exclude PAT,...]
               [--strict-close]

REPORT is the report's index.json or the directory holding it
(default: ./reports/servers/index.json).  PAT are Autobahn-style case
patterns ("6.4.*", "12.*", "7.1.6").  Prints one line per behavior
(OK / NON-STRICT / INFORMATIONAL / UNIMPLEMENTED / FAILED), the FAILED case
ids, and ends with "autobahn: N ok, M failed of T" (ok = OK + NON-STRICT +
INFORMATIONAL; UNIMPLEMENTED counts in T but neither as ok nor as failed).
Autobahn grades each case twice: "behavior" (the verdict used above, as in
the HTML report's main column) and "behaviorClose" (closing handshake: OK,
WRONG CODE, UNCLEAN, FAILED BY CLIENT, FAILED).  Cases whose behavior passed
but whose behaviorClose is not OK/INFORMATIONAL are listed as "close issues";
with --strict-close they are counted as FAILED too.
Exit status: 0 if no case FAILED, 1 otherwise, 2 on usage errors.
"""

import argparse
import json
import os
import re
import sys

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}


def case_key(cid):
    return tuple(int(x) for x in cid.split("."))


def compile_patterns(spec):
    pats = []
    for p in (spec or "").split(","):
        p = p.strip()
        if p:
            pats.append(re.compile("^" + re.escape(p).replace(r"\*", ".*") + "$"))
    return pats


def matches(cid, pats):
    # "6.4.*" must match "6.4.1"; "1.*" must not match "10.1.1"
    return any(p.match(cid) for p in pats)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("report", nargs="?", default="reports/servers/index.json")
    ap.add_argument("--agent", help="agent (server) name in the report; default: all agents")
    ap.add_argument("--cases", help="only these case patterns, comma separated")
    ap.add_argument("--exclude", help="ignore these case patterns, comma separated")
    ap.add_argument(
        "--strict-close",
        action="store_true",
        help="count passing cases with a bad closing handshake as FAILED",
    )
    args = ap.parse_args(argv)

    path = args.report
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("cannot read report %s: %s" % (path, e), file=sys.stderr)
        return 2

    agents = sorted(index)
    if args.agent:
        if args.agent not in index:
            have = ", ".join(agents)
            print("agent %r not in report (have: %s)" % (args.agent, have), file=sys.stderr)
            return 2
        agents = [args.agent]
    if not agents:
        print("report %s contains no results" % path, file=sys.stderr)
        return 2

    only = compile_patterns(args.cases)
    excl = compile_patterns(args.exclude)
    any_failed = False
    for agent in agents:
        results = index[agent]
        ids = sorted(
            (c for c in results if (not only or matches(c, only)) and not matches(c, excl)),
            key=case_key,
        )
        counts = dict((b, 0) for b in BEHAVIORS)
        failed = []
        close_issues = []
        for cid in ids:
            beh = results[cid].get("behavior", "FAILED")
            if beh not in counts:  # anything unknown is treated as a failure
                beh = "FAILED"
            bclose = results[cid].get("behaviorClose", "FAILED")
            if beh in PASSING and bclose not in ("OK", "INFORMATIONAL"):
                close_issues.append("%s(%s)" % (cid, bclose))
                if args.strict_close:
                    beh = "FAILED"
            counts[beh] += 1
            if beh == "FAILED":
                failed.append(cid)
        if len(agents) > 1:
            print("agent: %s" % agent)
        for b in BEHAVIORS:
            print("%-13s %d" % (b, counts[b]))
        print("FAILED cases: %s" % (" ".join(failed) if failed else "none"))
        print(
            "close issues%s: %s"
            % (
                " (counted as FAILED)" if args.strict_close else "",
                " ".join(close_issues) if close_issues else "none",
            )
        )
        n_ok = sum(counts[b] for b in PASSING)
        print("autobahn: %d ok, %d failed of %d" % (n_ok, counts["FAILED"], len(ids)))
        any_failed = any_failed or bool(failed)
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
