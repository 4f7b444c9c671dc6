"""virusdetected: the message carried a virus or malware."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"this message contains a virus", "Exim default configure acl_check_data (commented example)", "Exim/exim@13835a3c1e src/src/configure.default:617 (acl_check_data example)"),
    Phrase(r"email rejected due to security policies", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '554 Email rejected due to security policies' (AV signature OR spam score over maximum) (low confidence)"),
    Phrase(r"message contained unsafe content", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/169925/common-external-spam-filtering-error-cod.html (Broadcom KB 169925)"),
    Phrase(r': virus found: \"', "Rspamd antivirus module (clamav, avast, fprot, kaspersky)", "rspamd/rspamd @eaac8e91 lualib/lua_scanners/clamav.lua default_message = '${SCANNER}: virus found: \"${VIRUS}\"'"),
    Phrase(r"mail appears infected with", "ASSP (Anti-Spam SMTP Proxy)", "https://maxclicksonline.com/client-area/knowledgebase.php?action=displayarticle&id=10095 (hosting provider's page listing ASSP anti-spam proxy bounce texts)"),
    Phrase(r"\bvirus(?:es)?\b", "common: Exim, GoDaddy, Hornetsecurity, Rspamd", "Exim 'This message contains a virus' Exim/exim@13835a3c1e src/src/configure.default:617; GoDaddy '552 Virus infected message rejected. IB705' (https://www.godaddy.com/help/fix-rejected-email-with-a-bounce-error-40685); Hornetsecurity '554 5.6.4 Virus e-mail blocked' (https://support.everycloud.com/support/solutions/articles/4000007755); Rspamd '<scanner>: virus found' (row 3). Narrowed to the word: not 'antivirus' (a host or product name)"),
    Phrase(r"malware", "unidentified", "no primary source found; narrow: malicious content"),
    Phrase(r"infected: |infected (?:message|mail|e-?mail|attachment|file)|(?:message|mail|attachment|file) (?:appears |is |was )?infected", "common: amavisd-new, GoDaddy, ASSP", "amavisd-new 'id=%n - INFECTED: %V' tajohnson/amavisd-new@bc8bc02509 amavisd:1843 (smtp_reason_by_ccat); GoDaddy 'Virus infected message rejected'; ASSP 'mail appears infected with' (row 4). Narrowed to infected mail: not 'your host is infected' (a block list's reason about the sending host)"),
    Phrase(r"trojan", "unidentified", "no primary source found; narrow"),
    Phrase(r"\bworm\b", "unidentified", "no primary source found; narrow"),
    Phrase(r"(reject|bounce), id=[^ ]+ - infected", "amavisd-new (content filter, SMTP/LMTP reply relayed by the MTA)", "tajohnson/amavisd-new@bc8bc02509 amavisd:1840-1866 (%smtp_reason_by_ccat) and amavisd:15288-15300 (status by category) + amavisd:15331-15338 ('Reject'/'Bounce' prefix)"),
)
