"""A real SMTP server (aiosmtpd) for the integration tests.

Usage: smtp-server.py PORT DIRECTORY. Each message is saved as DIRECTORY/<id>.eml,
preceded by an X-Envelope-To header with the recipients. Prints "ready" once listening.
"""
import os
import signal
import sys
import uuid

from aiosmtpd.controller import Controller


class Saver:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.directory, uuid.uuid4().hex + ".eml")
        header = ("X-Envelope-To: " + ", ".join(envelope.rcpt_tos) + "\r\n").encode()
        with open(path + ".part", "wb") as f:
            f.write(header + envelope.original_content)
        os.rename(path + ".part", path)
        return "250 OK"


controller = Controller(Saver(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
