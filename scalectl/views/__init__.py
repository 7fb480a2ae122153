"""What commands print. Views take plain data and the `Ui`, and do no I/O besides printing.

Command modules import a view inside the command body, so Rich tables load only when used.
"""
