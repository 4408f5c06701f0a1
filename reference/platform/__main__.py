"""`python -m reference.platform`."""

from reference.platform.cli import main

main()
