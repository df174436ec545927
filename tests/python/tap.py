"""tap.py - the TAP lines the Python test scripts print ("ok - NAME" /
"not ok - NAME" and up to 8 lines of detail), and the count of failures."""

_failures = 0


def ok(name, cond, detail=""):
    """Prints the line for one check; returns cond."""
    global _failures
    print(("ok - " if cond else "not ok - ") + name)
    if not cond:
        _failures += 1
        for line in str(detail).splitlines()[:8]:
            print("#   " + line)
    return cond


def failures():
    """How many checks failed so far."""
    return _failures
