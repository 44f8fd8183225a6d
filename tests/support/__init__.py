"""The tests' shared harness (imported as ``support.*``; ``tests/`` is on
sys.path when pytest runs):

* :mod:`support.net`: ``free_port``, ``LOCAL``, ``wait_for``;
* :mod:`support.raw`: the raw WebSocket clients and their frame codec;
* :mod:`support.peer`: a ``websockets`` server in a thread of its own;
* :mod:`support.served`: a pylws_ffi context served by a thread.

``tests/conftest.py`` exposes them as fixtures (``free_port``, ``ws_peer``,
``raw_ws``).
"""
