"""`python -m qmm` runs the same command as `qmm`."""

from qmm.cli.main import app

app(prog_name="qmm")
