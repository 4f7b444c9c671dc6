"""requireptr: the sending IP has no valid reverse DNS (RFC 7372 X.7.25)."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"client host rejected: cannot find your reverse hostname", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1270 (reject_unknown_reverse_client_hostname)"),
    Phrase(r"client host rejected: cannot find your hostname", "Postfix smtpd", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1289 (reject_unknown_client_hostname)"),
    Phrase(r"fix reverse dns for|client ip address .{1,60} does not resolve|possibly forged hostname for", "Sendmail cf FEATURE(require_rdns)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:1858 (require_rdns); deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:1859"),
    Phrase(r"without valid reverse dns was administratively denied", "qmail-ldap qmail-smtpd", "qmail-ldap/qmail-ldap@33d8d0d25a qmail-smtpd.c:154"),
    Phrase(r"rdns lookup failed", "Haraka connection.js (lookup_rdns hook)", "haraka/Haraka@0bf10cbb48 connection.js:694"),
    Phrase(r"sending ipv6 address .{0,60}must have a reverse dns record", "Microsoft Exchange Online / EOP", "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online (table 'Find my error code and get help delivering my email'; MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md) row 5.7.25 'Access denied, the sending IPv6 address [...] must have a reverse DNS record'"),
    Phrase(r"reverse (?:dns|lookup|name|address|host)", "common: Postfix, Sendmail, qmail-ldap, Exchange Online, Comcast, GoDaddy", "Postfix 'cannot find your reverse hostname' (row 0); Sendmail 'Fix reverse DNS for' (row 2); qmail-ldap 'without valid reverse DNS' (row 3); Exchange Online 'must have a reverse DNS record' (row 5); Comcast '421 ... Reverse DNS failure : Try again later' (http://postmaster.comcast.net/mail-error-codes.aspx); GoDaddy 'reverse DNS for this IP failed. IB108' (https://www.godaddy.com/help/fix-rejected-email-with-a-bounce-error-40685)"),
    Phrase(r"\bptr\b", "common: Gmail, Sendmail", "Gmail '5.7.25 ... does not have a PTR record setup' (https://support.google.com/a/answer/3726730); Sendmail 'Cannot resolve PTR record for' deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2327 (taken first by norelaying: 'Relaying temporarily denied')"),
    Phrase(r"\brdns\b", "common: Haraka, Cox", "Haraka 'rDNS lookup failed' haraka/Haraka@0bf10cbb48 connection.js:694; Cox '554 cox.net <ip> rejected - no rDNS' (sisimai lib/Sisimai/Rhost/Cox.pm, Cox error-code page)"),
    Phrase(r"no (?:valid )?(?:ptr|reverse)", "unidentified", "no primary source found; narrow: a missing PTR/reverse record"),
    Phrase(r"(?:ip|client) name lookup failed", "Sendmail cf (proto.m4)", "deepin-community/sendmail@c7e7de44d9 cf/m4/proto.m4:2329 ('550 Relaying denied. IP name lookup failed')"),
    Phrase(r"(?:cannot|could not|can't|unable to) (?:find|resolve) (?:your (?:host ?name|client host name)|client host name)", "Postfix smtpd; unidentified others", "vdukhovni/postfix@17830e5c13 postfix/src/smtpd/smtpd_check.c:1289 ('cannot find your hostname', row 1). Narrowed: 'your' (or 'client') is required: 'unable to resolve hostname <mx>' is the sender's own DNS failure for the destination (network error or unknown host)"),
    Phrase(r"client host name (?:is )?(?:unknown|not found)", "unidentified", "no primary source found; narrow"),
    Phrase(r"does not have a (?:valid )?(?:reverse|ptr)", "Gmail", "'550-5.7.25 [ip] The IP address sending this message does not have a PTR record setup' (https://support.google.com/a/answer/3726730)"),
    Phrase(r"(?:domain|hostname) .{0,40}mismatches client ip", "unidentified", "no primary source found; listed in sisimai lib/Sisimai/Reason/RequirePTR.pm ('domain ... mismatches client ip')"),
    Phrase(r"unresolvable relay host name", "unknown", "no primary source found (listed by Sisimai lib/Sisimai/Reason/RequirePTR.pm)"),
)
