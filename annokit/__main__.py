"""``python -m annokit``: the same entry point as the ``annokit`` command."""
from .cli import run

if __name__ == "__main__":
    run()
