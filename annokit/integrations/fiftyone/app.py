"""The FiftyOne App: start it on a dataset, serve it until interrupted, stop it."""
from __future__ import annotations

from ...errors import Terminated
from .database import fiftyone


def launch(fo_dataset, *, port: int = 5151, address: str = "localhost"):
    """Start the FiftyOne App server on ``address:port`` showing ``fo_dataset``.

    Returns the FiftyOne Session (``session.url`` is the address; ``close_app()`` stops
    it). ``remote=True``: the server runs without opening a browser here.

    Example:
        >>> session = launch(to_fiftyone(ds, "bccd"), port=5151)  # doctest: +SKIP
    """
    fo = fiftyone()
    return fo.launch_app(fo_dataset, port=port, address=address, remote=True, auto=False)


def serve(fo_dataset, *, port: int = 5151, address: str = "localhost",
          ready=print) -> None:
    """Serve the App on ``address:port`` until Ctrl-C or SIGTERM, then stop it.

    ``ready(url)`` is called once the server runs (the URL opens ``fo_dataset``). The App
    server is stopped before the interruption goes on: Ctrl-C raises ``KeyboardInterrupt``
    and SIGTERM raises :class:`annokit.errors.Terminated` (the CLI exits 130 and 143).

    Example:
        >>> serve(to_fiftyone(ds, "bccd"), port=5151)  # doctest: +SKIP
        http://localhost:5151/datasets/bccd
    """
    import signal
    from urllib.parse import quote

    def stop(signum, frame):  # `kill` stops the App as Ctrl-C does, leaving no orphan
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        session = launch(fo_dataset, port=port, address=address)
        ready(f"http://{address}:{port}/datasets/{quote(fo_dataset.name)}")
        session.wait(-1)
    finally:
        close_app()
        signal.signal(signal.SIGTERM, previous)


def close_app() -> None:
    """Stop the App server started by :func:`launch` (nothing when none runs).

    Example:
        >>> close_app()  # doctest: +SKIP
    """
    import fiftyone as fo

    fo.close_app()


def exposure_warning(address: str) -> str | None:
    """One line warning that the App would serve files to other machines, or None for a
    loopback ``address``. FiftyOne's ``/media`` endpoint serves any file the user running
    the App can read, not only the dataset's images.

    Example:
        >>> exposure_warning("localhost") is None, exposure_warning("127.0.0.2") is None
        (True, True)
        >>> exposure_warning("0.0.0.0")[:46]
        'the App listens on 0.0.0.0, beyond this machin'
    """
    import ipaddress

    host = address.strip().strip("[]")
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to anything
    return (f"the App listens on {address}, beyond this machine: FiftyOne's /media endpoint "
            "serves any file this user can read to whoever reaches the port (see "
            "docs/fiftyone.md); use the default localhost and an SSH tunnel instead")
