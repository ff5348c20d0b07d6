"""A real SMTP server (aiosmtpd) for the integration tests.

Usage: smtp-server.py PORT DIRECTORY [--tls CERT KEY] [--auth USER:PASSWORD]

Each message is saved as DIRECTORY/<id>.eml, preceded by an X-Envelope-To header with
the recipients. With --tls the server offers STARTTLS and refuses mail without it; with
--auth it requires SMTP AUTH with that user and password (and records who logged in as
X-Authenticated-As). Prints "ready" once listening.
"""
import argparse
import os
import signal
import ssl
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.directory, uuid.uuid4().hex + ".eml")
        header = "X-Envelope-To: " + ", ".join(envelope.rcpt_tos) + "\r\n"
        if session.authenticated:
            header += "X-Authenticated-As: " + str(session.auth_data.login, "utf-8") + "\r\n"
        with open(path + ".part", "wb") as f:
            f.write(header.encode() + envelope.original_content)
        os.rename(path + ".part", path)
        return "250 OK"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    return authenticate


parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("directory")
parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
parser.add_argument("--auth", metavar="USER:PASSWORD")
args = parser.parse_args()

options = {}
if args.tls:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*args.tls)
    options.update(tls_context=context, require_starttls=True)
if args.auth:
    user, password = args.auth.split(":", 1)
    options.update(authenticator=authenticator_for(user, password), auth_required=True)

controller = Controller(Saver(args.directory), hostname="127.0.0.1", port=args.port, **options)
controller.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
