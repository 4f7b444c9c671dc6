#!/usr/bin/env python3
"""Send a bounce to verpd over LMTP, as an MTA would, and print verpd's replies.

    python3 examples/send_bounce.py --to ADDRESS [--lmtp 127.0.0.1:8024] [FILE]

FILE defaults to examples/bounce-dsn.eml; every "{verp}" in it becomes ADDRESS.
The envelope sender is <> (a bounce); the envelope recipient is ADDRESS.
Exits 0 if verpd accepted the message (2xx), 1 otherwise.
"""

import argparse
import smtplib
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True, help="a VERP address (verpd verp encode ...)")
    parser.add_argument("--lmtp", default="127.0.0.1:8024", help="verpd's LMTP listener")
    parser.add_argument("file", nargs="?", default=Path(__file__).with_name("bounce-dsn.eml"))
    args = parser.parse_args()
    host, _, port = args.lmtp.rpartition(":")
    message = Path(args.file).read_bytes().replace(b"{verp}", args.to.encode())
    with smtplib.LMTP(host.strip("[]"), int(port)) as lmtp:
        lmtp.ehlo_or_helo_if_needed()
        code, reply = lmtp.mail("")
        print(f"MAIL FROM:<>      -> {code} {reply.decode()}")
        code, reply = lmtp.rcpt(args.to)
        print(f"RCPT TO:<{args.to}> -> {code} {reply.decode()}")
        if code >= 300:
            return 1
        code, reply = lmtp.data(message)
        print(f"DATA              -> {code} {reply.decode()}")
    return 0 if code < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
