"""The ordered list of detectors, most authoritative first.

The order is a rule, not an accident:

1. ARF feedback reports (``report-type=feedback-report``) are unambiguous; so are
   challenge-response notices that dress as DSNs (keyed on their sender), which
   the DSN detector would otherwise read as failures.
2. Standard RFC 3464 / RFC 6533 delivery status notifications: when a message has
   a delivery-status part, its per-recipient fields are the most exact facts.
3. MTA- and provider-specific formats without a usable DSN part, each keyed on its
   own fingerprint (a From/Subject pair, an X- header, a fixed boundary line).
4. Exim's X-Failed-Recipients, which also covers unknown Exim-based systems.
5. Generic readers, only for what no format's own fingerprint claimed: a DSN attached
   to a forward or a gateway's note, "originally addressed to" and French letters
   (before the fallback, which would misread them), the fallback, then one-sentence
   notices (after it: it reads fuller reports of that kind better).
6. Auto-replies and challenge-responses, last: a bounce is often also marked
   ``Auto-Submitted: auto-replied``, so only what no bounce detector claims is one.

A new format is one module in ``detectors/`` with one class satisfying :class:`Detector`, one
fixture of ours under ``tests/fixtures/detectors/`` with its expected result beside
it, and one line here.
"""

from __future__ import annotations

from typing import Protocol

from verpd.model import RecipientFacts, ReportKind
from verpd.parse.detectors.activehunter import ActiveHunterDetector
from verpd.parse.detectors.amazonses import AmazonSesComplaintDetector, AmazonSesDetector
from verpd.parse.detectors.apachejames import ApacheJamesDetector
from verpd.parse.detectors.arf import FeedbackReportDetector
from verpd.parse.detectors.autoreply import AutoReplyDetector, ChallengeResponseDetector
from verpd.parse.detectors.biglobe import BiglobeDetector
from verpd.parse.detectors.boxbe import BoxbeDetector
from verpd.parse.detectors.courier import CourierDetector
from verpd.parse.detectors.domino import DominoDetector
from verpd.parse.detectors.dragonfly import DragonFlyDetector
from verpd.parse.detectors.dsn import DeliveryStatusDetector
from verpd.parse.detectors.einsundeins import EinsUndEinsDetector
from verpd.parse.detectors.exchange2003 import Exchange2003Detector
from verpd.parse.detectors.exchange2007 import Exchange2007Detector
from verpd.parse.detectors.exim import EximDetector
from verpd.parse.detectors.ezweb import EZwebDetector
from verpd.parse.detectors.fallback import FallbackDetector
from verpd.parse.detectors.fml import FmlDetector
from verpd.parse.detectors.forwardeddsn import ForwardedDsnDetector
from verpd.parse.detectors.frenchbilingual import FrenchBilingualDetector
from verpd.parse.detectors.gmail import GmailDetector
from verpd.parse.detectors.gmx import GmxDetector
from verpd.parse.detectors.googlegroups import GoogleGroupsDetector
from verpd.parse.detectors.googleworkspace import GoogleWorkspaceDetector
from verpd.parse.detectors.imailserver import IMailServerDetector
from verpd.parse.detectors.intermail import InterMailDetector
from verpd.parse.detectors.kddi import KddiDetector
from verpd.parse.message.mail import Mail
from verpd.parse.detectors.mailfoundry import MailFoundryDetector
from verpd.parse.detectors.mailmarshal import MailMarshalDetector
from verpd.parse.detectors.mcafee import McAfeeDetector
from verpd.parse.detectors.mdaemon import MDaemonDetector
from verpd.parse.detectors.messagelabs import MessageLabsDetector
from verpd.parse.detectors.messagingserver import MessagingServerDetector
from verpd.parse.detectors.mfilter import MFilterDetector
from verpd.parse.detectors.mimecast import MimecastDetector
from verpd.parse.detectors.minimal import MinimalNoticeDetector
from verpd.parse.detectors.opensmtpd import OpenSmtpdDetector
from verpd.parse.detectors.postfixtext import PostfixTextDetector
from verpd.parse.detectors.qmail import QmailDetector
from verpd.parse.detectors.rewritten import RewrittenRecipientDetector
from verpd.parse.detectors.sendmail import SendmailDetector
from verpd.parse.detectors.surfcontrol import SurfControlDetector
from verpd.parse.detectors.trendmicro import TrendMicroDetector
from verpd.parse.detectors.verizon import VerizonDetector
from verpd.parse.detectors.smail import SmailDetector
from verpd.parse.detectors.x1 import X1Detector
from verpd.parse.detectors.x3 import X3Detector
from verpd.parse.detectors.x5 import X5Detector
from verpd.parse.detectors.x6 import X6Detector
from verpd.parse.detectors.zoho import ZohoDetector


class Detector(Protocol):
    """Recognises one family of messages."""

    name: str
    kind: ReportKind  # what the message is when this detector recognises it

    def detect(self, mail: Mail) -> list[RecipientFacts] | None:
        """The recipients this message reports on, or ``None`` if it is not ours."""
        ...


DETECTORS: tuple[Detector, ...] = (
    FeedbackReportDetector(),  # RFC 5965 ARF, Microsoft JMRP: complaints
    BoxbeDetector(),  # Boxbe's challenge written as a DSN ("delayed", 4.7.0 "sender not pre-approved"): before the DSN detector
    DeliveryStatusDetector(),  # standard: RFC 3464 / RFC 6533 multipart/report
    # --- MTA- and provider-specific formats (one line each, alphabetical within a family) ---
    # commercial servers, security gateways, regional providers: header/sender fingerprints first
    ActiveHunterDetector(),  # QUALITIA Active!hunter: X-AHMAILID
    MFilterDetector(),  # Digital Arts m-FILTER: X-Mailer: m-FILTER, "failure notice" (before qmail)
    SurfControlDetector(),  # Websense SurfControl: X-Mailer: SurfControl E-mail Filter
    McAfeeDetector(),  # McAfee Email Gateway: X-NAI-Header, "<addr> (reason)" lines
    ZohoDetector(),  # Zoho Mail: X-ZohoMail, "ERROR_CODE :550" lines
    GmxDetector(),  # GMX / mail.com: X-GMX-Antispam (before Exim: Exim-like text)
    EinsUndEinsDetector(),  # 1&1 / IONOS: "--- The header of the original message is following. ---"
    VerizonDetector(),  # Verizon Wireless: post_master@vtext.com, sysadmin@...vzwpix.com
    KddiDetector(),  # au by KDDI: no-reply@...dion.ne.jp, "Could not be delivered to: <addr>"
    EZwebDetector(),  # au EZweb: Postmaster@ezweb.ne.jp + "Mail System Error - Returned Mail"
    InterMailDetector(),  # Openwave InterMail (Road Runner/TWC): the same subject, any host (after EZweb)
    BiglobeDetector(),  # BIGLOBE: postmaster@biglobe.ne.jp, "Returned mail:" (before Sendmail)
    MailFoundryDetector(),  # MailFoundry: "Message delivery has failed" + (MAILFOUNDRY) hop
    MailMarshalDetector(),  # Trustwave MailMarshal: 'Undeliverable Mail: "subject"'
    IMailServerDetector(),  # Ipswitch IMail: X-Mailer: <SMTP32 v...>, "Undeliverable Mail"
    MDaemonDetector(),  # MDaemon: "MDaemon" sender or text + "PERMANENT fatal delivery errors" / "Failed address:" / session transcript
    MimecastDetector(),  # Mimecast: "[Postmaster] Email Delivery Failure", "-- addr" lines
    DominoDetector(),  # Lotus Domino "DELIVERY FAILURE:", Lotus Notes "Undeliverable message"
    Exchange2003Detector(),  # Exchange 5.5-2003 IMS/IMC, MTA, 2000/2003 text: "did not reach the following recipient(s)", "... could not / cannot be reached"
    Exchange2007Detector(),  # Exchange 2007+/Office 365 NDR text: "Diagnostic information for administrators"
    MessagingServerDetector(),  # Oracle/Sun Messaging Server text: "Recipient address:" / "Reason:"
    TrendMicroDetector(),  # Trend Micro InterScan MSS: "Unable to deliver message to <addr>"
    AmazonSesComplaintDetector(),  # SES/SNS JSON "notificationType": "Complaint" (feedback)
    AmazonSesDetector(),  # SES/SNS JSON "notificationType": "Bounce" / "Delivery" / "DeliveryDelay"
    GoogleGroupsDetector(),  # Google Groups: X-Failed-Recipients + groups.google.com letter
    GoogleWorkspaceDetector(),  # Gmail "** Message not delivered **" with an empty DSN part
    GmailDetector(),  # Gmail legacy text: "Delivery to the following recipient failed permanently"
    MessageLabsDetector(),  # Broadcom Email Security.cloud: X-Msg-Ref + its banner (after Gmail's DSN letter, before qmail)
    X5Detector(),  # unknown MTA "X5": a DSN attached to a notice to "NotificationRecipients"
    DragonFlyDetector(),  # DragonFly Mail Agent (dma): "This is the DragonFly Mail Agent"
    OpenSmtpdDetector(),  # OpenSMTPD text: "This is the MAILER-DAEMON, please DO NOT REPLY"
    PostfixTextDetector(),  # Postfix without a DSN part (1999 releases, text-only copies): "This is the Postfix program", "<addr>: reason"
    CourierDetector(),  # Courier MTA text: "UNDELIVERABLE MAIL", "<addr>:" with ">>>"/"<<<"
    X1Detector(),  # unknown MTA "X1": "---The following addresses had delivery errors---"
    SmailDetector(),  # Smail 3, T-Online: "|---- Failed addresses follow: ----|" (before Exim: T-Online borrows its subject)
    X3Detector(),  # unknown MTA "X3": "This is an automatically generated Delivery Status Notification"
    X6Detector(),  # unknown MTA "X6": "We had trouble delivering your message"
    FmlDetector(),  # fml mailing-list manager: X-MLServer: fml
    SendmailDetector(),  # Sendmail without a DSN part (V8 SendMimeErrors=False, V5): transcript sections
    QmailDetector(),  # qmail "failure notice", Yahoo and qmail clones: "<addr>:" blocks
    ApacheJamesDetector(),  # Apache James: "Message details:" / "Failed recipient(s):" (after qmail: JavaMail ids)
    EximDetector(),  # Exim text reports: X-Failed-Recipients or its banner, Mail.ru, MXLogic
    # --- generic readers: only what no MTA's own format claimed ---
    ForwardedDsnDetector(),  # a DSN attached as message/rfc822 to a forward or a gateway's note (before the fallback reads the note)
    RewrittenRecipientDetector(),  # "originally addressed to <addr>": before the fallback, which would take the rewritten address
    FrenchBilingualDetector(),  # French / French-English letters: "n'a pas pu être délivré", "Adresse(s) en erreur", "Raison / Reason"
    FallbackDetector(),  # last resort: bounce-like envelope/headers, failed addresses named in the report text
    MinimalNoticeDetector(),  # one sign of a mail system + one sentence naming the failed address (after the fallback, which reads fuller reports)
    # --- not failures: only what no bounce detector claimed ---
    ChallengeResponseDetector(),  # TMDA, BoxTrapper, Spam Arrest
    AutoReplyDetector(),  # RFC 3834 vacation / out-of-office
)
