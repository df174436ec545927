# The Python binding (python/attest) over the library of this build:
# tests/python/test_binding.py prints its own "ok - ..." lines. Needs
# Debian's /usr/bin/python3 with numpy and torch; skips without them.
. "$(dirname "$0")/lib.bash"
python_env "python binding tests" "numpy, torch"
"$PY" "$(dirname "$0")/../python/test_binding.py"
