#!/usr/bin/env python3
"""Third reference server: Autobahn|Python 0.10.9's own testee echo server
(the implementation the suite was developed against), bound to 127.0.0.1.
Usage: autobahn_testee_echo.py PORT [LIFETIME_SECONDS]
"""

import sys

import autobahntestsuite  # noqa: F401, I001 - first: installs the epoll reactor + txaio.use_twisted()
from autobahntestsuite.testee import TesteeServerFactory
from twisted.internet import reactor

port = int(sys.argv[1])
lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 3600
factory = TesteeServerFactory("ws://127.0.0.1:%d" % port, ident="AutobahnPython-0.10.9-testee")
reactor.listenTCP(port, factory, interface="127.0.0.1")
reactor.callLater(lifetime, reactor.stop)
reactor.run()
