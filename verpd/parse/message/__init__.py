"""Reading a message: everything a detector needs to look at a bounce, and nothing about bounces.

- ``mime``: the lean MIME reader that builds the ``email`` package's compat32 tree;
- ``parts``: reading raw bytes into that tree, walking the report's parts, decoded part text;
- ``mbox``: splitting an mbox of several messages;
- ``mail``: :class:`~verpd.parse.message.mail.Mail`, the cached view every detector reads;
- ``text``: addresses in running text, report sections, multi-line SMTP replies;
- ``notice``: what the readers of prose notices share: is it from a mail system, where
  its report ends, which addresses are the notice's own.
"""
