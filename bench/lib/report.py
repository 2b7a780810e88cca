"""Helpers shared by the benchmark's rows: the log line, a median [min-max]
over rounds, and its printed form."""

import statistics
import time


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_spread(sp, f="%.2f"):
    if not sp:
        return "-"
    return (f + " [" + f + "-" + f + "]") % (sp["median"], sp["min"], sp["max"])
