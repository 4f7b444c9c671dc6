"""requireptr: the sending IP has no valid reverse DNS (RFC 7372 X.7.25)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"client host rejected: cannot find your reverse hostname", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1270 (reject_unknown_reverse_client_hostname)"),
    Phrase(r"client host rejected: cannot find your hostname", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1289 (reject_unknown_client_hostname)"),
    Phrase(r"fix reverse dns for|client ip address .{1,60} does not resolve|possibly forged hostname for", "Sendmail cf FEATURE(require_rdns)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:1858 (require_rdns); deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:1859"),
    Phrase(r"without valid reverse dns was administratively denied", "qmail-ldap qmail-smtpd", "qmail-ldap/qmail-ldap@33d8d0d25a qmail-smtpd.c:154"),
    Phrase(r"rdns lookup failed", "Haraka connection.js (lookup_rdns hook)", "haraka/Haraka@0bf10cbb48 connection.js:694"),
    Phrase(r"sending ipv6 address .{0,60}must have a reverse dns record", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.7.25 'Access denied, the sending IPv6 address [...] must have a reverse DNS record'"),
    Phrase(r"reverse (?:dns|lookup|name|address|host)", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"\bptr\b", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"\brdns\b", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"no (?:valid )?(?:ptr|reverse)", "common", "verpd 0.1 phrase set: common"),
    Phrase(r"(?:ip|client) name lookup failed", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(?:cannot|could not|can't|unable to) (?:find|resolve) (?:your )?(?:host ?name|client host name)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"client host name (?:is )?(?:unknown|not found)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"does not have a (?:valid )?(?:reverse|ptr)", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(?:domain|hostname) .{0,40}mismatches client ip", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"unresolvable relay host name", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/RequirePTR.pm)"),
)
