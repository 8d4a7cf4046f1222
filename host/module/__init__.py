"""The radar module's firmware on the host side: meta images (``image``) and flashing them
through the module's ROM bootloader over its UART (``flash``); ``cli`` is `cardioradar module`."""
