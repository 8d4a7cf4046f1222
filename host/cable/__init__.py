"""``cable://PORT?baud=..&drop_per_kb=..&corrupt_per_kb=..&seed=..``: a serial line with a line
rate and seeded faults, as a pyserial URL handler (the way pyserial's own ``loop://`` and
``spy://`` are made).

    >>> import host.cable                     # registers the scheme with pyserial
    >>> port = serial.serial_for_url("cable:///dev/pts/3?baud=921600&drop_per_kb=0.5&seed=3")

Importing this package appends it to ``serial.protocol_handler_packages``; pyserial then takes
``host.cable.protocol_cable.Serial`` for the ``cable`` scheme. ``host.cli`` imports it, so
``--port cable://...`` works on every command that takes a port. Parameters and behaviour:
``protocol_cable``.
"""

import serial

if __name__ not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(__name__)
