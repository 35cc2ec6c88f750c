"""The chapter kernel's own stdout and stderr, as ``kedit run`` shows them.

papermill starts an ipykernel process whose file descriptors 1 and 2 are the terminal's:
what a cell prints reaches the notebook, but what the kernel process itself (and any worker
process it starts) writes there goes straight to the user. Two of ipykernel's messages read
as failures although nothing failed:

- ``[IPKernelApp] WARNING | Kernel is running over TCP without encryption ...``, logged at
  every start (ipykernel 7 on a local kernel that papermill connects to over loopback TCP);
- ``KeyboardInterrupt caught in kernel``, printed when jupyter_client interrupts the kernel
  before shutting it down (it always does, so this shows after a cell raised, e.g. a clean
  parameter error).

:class:`QuietKernelManager` (papermill's ``kernel_manager_class``) launches the kernel with
its stdout and stderr on pipes; a thread per pipe forwards everything to this process's
``sys.stdout`` / ``sys.stderr`` except those two lines (:data:`KERNEL_NOISE`). Text passes in
segments ending at ``\\n`` or ``\\r``, and a segment that cannot become a noise line passes at
once, so a worker's tqdm bar is drawn as it updates. Anything else the kernel writes (a crash,
a C library's warning, a worker's traceback) still reaches the terminal, and a cell's
exception is reported by the runner as before (:class:`~kedit_utils.book.runner.NotebookFailed`).
"""
from __future__ import annotations

import codecs
import os
import re
import sys
import threading
import time
from collections.abc import Callable

from jupyter_client import AsyncKernelManager

# Whole segments (a line, or the text between two carriage returns) that are dropped.
KERNEL_NOISE = re.compile(
    r"(?:\[IPKernelApp\] [A-Z]+ \| )?"
    r"(?:Kernel is running over TCP without encryption\..*|KeyboardInterrupt caught in kernel\.?)\s*")
# A segment starting like one of these is held back until its end, to be matched whole.
_NOISE_STARTS = ("[IPKernelApp]", "KeyboardInterrupt caught in kernel")
_JOIN_SECONDS = 5.0  # after the kernel exits: time for the readers to pass on what is left


def is_kernel_noise(segment: str) -> bool:
    """Whether one segment (without its ``\\n`` / ``\\r``) is one of the dropped messages."""
    return KERNEL_NOISE.fullmatch(segment) is not None


def _may_become_noise(prefix: str) -> bool:
    return any(start.startswith(prefix) or prefix.startswith(start) for start in _NOISE_STARTS)


class NoiseFilter:
    """Passes text to ``write`` segment by segment, without the segments of :data:`KERNEL_NOISE`."""

    def __init__(self, write: Callable[[str], None]):
        self._write = write
        self._held = ""  # the start of a segment that may still turn out to be noise
        self._passing = False  # the current segment is known not to be noise

    def feed(self, text: str) -> None:
        while text:
            ends = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
            cut = min(ends) if ends else len(text)
            piece, end, text = text[:cut], text[cut:cut + 1], text[cut + 1:]
            if self._passing:
                self._write(piece + end)
            else:
                self._held += piece
                if end:
                    if not is_kernel_noise(self._held):
                        self._write(self._held + end)
                    self._held = ""
                elif not _may_become_noise(self._held):
                    self._write(self._held)
                    self._held, self._passing = "", True
            if end:
                self._passing = False

    def close(self) -> None:
        """Pass on a last segment that ended without a newline (unless it is noise)."""
        if self._held and not is_kernel_noise(self._held):
            self._write(self._held)
        self._held = ""


class _Forwarder:
    """One pipe the kernel writes to, and the thread that filters it into ``stream``."""

    def __init__(self, stream):
        self.read_fd, self.write_fd = os.pipe()
        self._stream = stream
        self._thread = threading.Thread(target=self._run, name="kedit-kernel-output", daemon=True)
        self._thread.start()

    def _emit(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the stream was closed (interpreter exit): nothing to show it on
            pass

    def _run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        noise = NoiseFilter(self._emit)
        try:
            while chunk := os.read(self.read_fd, 65536):
                noise.feed(decoder.decode(chunk))
            noise.feed(decoder.decode(b"", final=True))
        except OSError:
            pass
        finally:
            noise.close()
            os.close(self.read_fd)

    def close_write_end(self) -> None:
        """This process's copy of the write end: closed once the kernel holds its own."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def join(self, timeout: float) -> None:
        """Wait for the pipe's end of file (every process holding its write end exited)."""
        self._thread.join(timeout)


class QuietKernelManager(AsyncKernelManager):
    """papermill's kernel manager without ipykernel's two false alarms (module docstring)."""

    _forwarders: list[_Forwarder] | None = None

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if kw.get("stdout") is not None or kw.get("stderr") is not None:  # someone chose: leave it
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        out, err = _Forwarder(sys.stdout), _Forwarder(sys.stderr)
        self._forwarders = (self._forwarders or []) + [out, err]
        try:
            await super()._async_launch_kernel(kernel_cmd, **dict(kw, stdout=out.write_fd, stderr=err.write_fd))
        finally:
            out.close_write_end()
            err.close_write_end()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        # the kernel has exited: let the readers pass on its last words before the runner reports
        # (a worker process still holding a pipe would keep it open: wait a bounded time in all)
        deadline = time.monotonic() + _JOIN_SECONDS
        for forwarder in self._forwarders or []:
            forwarder.join(max(0.0, deadline - time.monotonic()))
        self._forwarders = []


__all__ = ["KERNEL_NOISE", "NoiseFilter", "QuietKernelManager", "is_kernel_noise"]
