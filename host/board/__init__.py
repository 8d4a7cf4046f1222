"""The host's commands to the board agent (`flash`, `board status`, `pull`): ``host.board.cli``.
The protocol client they call is ``host.flash``."""
