"""pytest for the nox sessions: `python .ci/pytest_status.py STATUS_FILE [pytest arguments]` runs pytest, writes its
exit status to STATUS_FILE and exits with it, except 5 (no test selected), for which it exits 0 and leaves the verdict
to the session (noxfile.py `_pytest`: a failure unless the session's arguments narrowed the run)."""

import sys
from pathlib import Path

import pytest

if __name__ == "__main__":
    status = int(pytest.main(sys.argv[2:]))
    sys.stdout.flush()
    Path(sys.argv[1]).write_text(f"{status}\n")
    sys.exit(0 if status == pytest.ExitCode.NO_TESTS_COLLECTED else status)
