"""TensorBoard scalars without TensorFlow: an event file of `Event` records, each holding scalar `Summary` values.

The format is TensorBoard's own (a TFRecord file: length, masked CRC-32C, payload, masked CRC-32C; the payload an
`Event` protocol buffer). Only the few fields that scalars need are written, by hand, so that the monitor's
TensorBoard output needs neither TensorFlow nor the protobuf package.
"""
import os
import socket
import struct
import time
from pathlib import Path


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    """The CRC-32C (Castagnoli) checksum TFRecord files use."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, wire, payload):
    return _varint(number << 3 | wire) + payload


def _bytes_field(number, data):
    return _field(number, 2, _varint(len(data)) + data)


def _event(step, wall_time, summary=None, file_version=None):
    """An Event message: wall_time (1, double), step (2, int64), file_version (3) or summary (5)."""
    out = _field(1, 1, struct.pack('<d', wall_time)) + _field(2, 0, _varint(step))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if summary is not None:
        out += _bytes_field(5, summary)
    return out


def _summary(scalars):
    """A Summary message of Value(tag (1), simple_value (2, float)) entries."""
    return b''.join(_bytes_field(1, _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack('<f', value)))
                    for tag, value in scalars.items())


class EventWriter:
    """Writes scalars to a new `events.out.tfevents.*` file in `logdir`, as tf.summary would."""

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        name = f'events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.aehealth'
        self.path = self.logdir / name
        self._file = open(self.path, 'wb')
        self._write(_event(0, time.time(), file_version='brain.Event:2'))

    def _write(self, record):
        header = struct.pack('<Q', len(record))
        self._file.write(header + struct.pack('<I', _masked(crc32c(header))) + record
                         + struct.pack('<I', _masked(crc32c(record))))

    def scalars(self, step, values):
        """One event at `step` holding every {tag: value}."""
        if values:
            self._write(_event(int(step), time.time(), summary=_summary(values)))
        self._file.flush()

    def close(self):
        self._file.close()
