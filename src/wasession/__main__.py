"""`python -m wasession`: the same commands as the `wasession` script."""

from wasession.cli import main

main()
