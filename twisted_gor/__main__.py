"""
C{python -m twisted_gor ...} is the C{gor} command.
"""

from twisted_gor.script import main

main()
