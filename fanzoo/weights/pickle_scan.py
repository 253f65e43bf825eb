"""Walk a pickle's opcodes before unpickling it, so that declared sizes cannot make the unpickler allocate.

CPython's unpickler allocates a bytes object of the declared length before reading it, and grows its memo
table to the largest index it is told to store; a few bytes can therefore ask for terabytes. pickletools
reads the same opcodes without building anything, and from an in-memory stream a declared length past the
end is just a short read. What passes here is bounded by the size of the pickle itself.
"""
from __future__ import annotations

import pickletools
from typing import BinaryIO

from ..errors import WeightsError

# a FAN state dict takes about 30 opcodes per tensor: tens of thousands in all
MAX_OPCODES = 2_000_000
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}


def check_pickle(stream: BinaryIO, end: int, what: str) -> None:
    """Raise :class:`WeightsError` unless the pickle at ``stream``'s position is well formed and every size
    it declares fits in the ``end - position`` bytes that follow; the position is restored.

    ``stream`` must read from memory (BytesIO, mmap): a file object would allocate what a length claims.
    """
    start = stream.tell()
    count = 0
    try:
        for opcode, arg, position in pickletools.genops(stream):
            count += 1
            if count > MAX_OPCODES:
                raise WeightsError(f"{what} holds more than {MAX_OPCODES} pickle opcodes; "
                                   "that is no weight file")
            if opcode.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg <= count):
                raise WeightsError(f"{what} is damaged: its pickle stores object {arg} after only {count} opcodes")
            if opcode.name == "FRAME" and position + 9 + arg > end:
                raise WeightsError(f"{what} is truncated: a pickle frame of {arg} bytes runs past the end")
    except WeightsError:
        raise
    except Exception as exc:  # pickletools reports damage as ValueError and others
        raise WeightsError(f"{what} is damaged or not a PyTorch file ({type(exc).__name__}: {exc})") from None
    if stream.tell() > end:
        raise WeightsError(f"{what} is truncated")
    stream.seek(start)
