"""virusdetected: the message carried a virus or malware."""

from verpd.classify.phrase import Phrase

ROWS = (
    Phrase(r"this message contains a virus", "Exim default configure acl_check_data (commented example)", "Exim/exim@13835a3c1e src/src/configure.default:617 (acl_check_data example)"),
    Phrase(r"email rejected due to security policies", "Mimecast Email Security Cloud Gateway", "https://mimecastsupport.zendesk.com/hc/en-us/articles/34000709564691-Policies-Mimecast-SMTP-Error-Codes (formerly https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754, DOC-1369); wording as transcribed in sisimai lib/Sisimai/Rhost/Mimecast.pm §5xx '554 Email rejected due to security policies' (AV signature OR spam score over maximum) (low confidence)"),
    Phrase(r"message contained unsafe content", "recipient content filters (as documented by Broadcom)", "https://knowledge.broadcom.com/external/article/169925/common-external-spam-filtering-error-cod.html (Broadcom KB 169925)"),
    Phrase(r': virus found: \"', "Rspamd antivirus module (clamav, avast, fprot, kaspersky)", "rspamd/rspamd @eaac8e91 lualib/lua_scanners/clamav.lua default_message = '${SCANNER}: virus found: \"${VIRUS}\"'"),
    Phrase(r"mail appears infected with", "ASSP (Anti-Spam SMTP Proxy)", "https://maxclicksonline.com/client-area/knowledgebase.php?action=displayarticle&id=10095 (hosting provider's page listing ASSP anti-spam proxy bounce texts)"),
    Phrase(r"virus", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"malware", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"infected", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"trojan", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"\bworm\b", "common", "verpd 0.1 phrase set: provenance pending"),
    Phrase(r"(reject|bounce), id=[^ ]+ - infected", "amavisd-new (content filter, SMTP/LMTP reply relayed by the MTA)", "tajohnson/amavisd-new@bc8bc02509 amavisd:1840-1866 (%smtp_reason_by_ccat) and amavisd:15288-15300 (status by category) + amavisd:15331-15338 ('Reject'/'Bounce' prefix)"),
)
