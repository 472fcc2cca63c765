"""Messages that C libraries print straight to file descriptor 2 are caught (imaging/native_messages.py),
also when several threads read and write images at once: fd 2 is the whole process's."""

import os
import threading

from FusionCINNLib.imaging.native_messages import last_message, native_stderr


def _fd2() -> tuple:
    info = os.fstat(2)
    return info.st_dev, info.st_ino


def test_what_is_printed_to_fd_2_is_caught_and_fd_2_restored():
    before = _fd2()
    with native_stderr() as lines:
        os.write(2, b"** ERROR: NWAD: wrote only 12 of 40 bytes\nnoise\n")
    assert lines == ["** ERROR: NWAD: wrote only 12 of 40 bytes", "noise"]
    assert last_message(lines) == "** ERROR: NWAD: wrote only 12 of 40 bytes"
    assert _fd2() == before


def test_overlapping_blocks_in_two_threads_leave_fd_2_as_it_was():
    """Unguarded, the second block saves the first one's temporary file as "fd 2" and restores it after the
    first has ended: stderr then writes into a deleted file for the rest of the run."""
    before = _fd2()
    first_inside, second_inside, first_done = threading.Event(), threading.Event(), threading.Event()
    caught = {}

    def first():
        with native_stderr() as lines:
            first_inside.set()
            second_inside.wait(0.5)  # guarded, the second block cannot start while this one runs
            os.write(2, b"from the first\n")
        first_done.set()
        caught["first"] = lines

    def second():
        first_inside.wait(5)
        with native_stderr() as lines:
            second_inside.set()
            first_done.wait(5)  # unguarded, the first block ends inside this one
            os.write(2, b"from the second\n")
        caught["second"] = lines

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert _fd2() == before
    assert caught == {"first": ["from the first"], "second": ["from the second"]}
