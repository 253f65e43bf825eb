"""`python -m fanzoo`: the same command as `fanzoo`."""
from .cli import main

main()
