"""
C{python -m twisted_gor ...} is the C{gor} command.
"""

from twisted_gor.cli.script import main

main()
