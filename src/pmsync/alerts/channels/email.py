"""E-mail over SMTP with the standard library: STARTTLS or implicit TLS, optional login.

``smtplib`` is the well-kept library here: it is what every Python SMTP helper
wraps, and what it lacks (templates, error classes) is ours anyway. A message is
``multipart/alternative``: a plain-text part for any client and an HTML part
laid out in one narrow column for phones. The ``Message-ID`` is built from the
outbox key, so a message sent twice after a crash has the same id and mail
clients can thread or drop the copy; ``Auto-Submitted`` keeps vacation replies
away. Certificates are verified (``ca_file`` for a private CA); the password is
read from its secret only to log in.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from pmsync.alerts.channels.base import (
    Channel,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from pmsync.alerts.findings import one_line
from pmsync.config.settings import EmailReceiver

log = logging.getLogger(__name__)


def _classify(code: int, what: str, err: Exception) -> DeliveryError:
    if 400 <= code < 500:
        return TransientDeliveryError(f"{what} (SMTP {code}, temporary)")
    return PermanentDeliveryError(f"{what} (SMTP {code})")


class EmailChannel(Channel):
    """Sends alerts as e-mail through the receiver's SMTP server."""

    settings: EmailReceiver

    def render(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> EmailMessage:
        """Return a multipart e-mail with a text and an HTML part."""
        message = EmailMessage()
        message["Subject"] = one_line(context["title"], 200)
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.to)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.templates.render("text", context) + "\n")
        message.add_alternative(self.templates.render("html", context) + "\n", subtype="html")
        return message

    def _tls(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        path = None if ca_file is None else self.config_dir / ca_file
        return ssl.create_default_context(cafile=None if path is None else str(path))

    def send(self, message: EmailMessage, key: str, at: datetime) -> None:
        """Deliver ``message`` with ``key`` in its Message-ID."""
        st = self.settings
        message["Message-ID"] = f"<{key}@{st.sender.rpartition('@')[2]}>"
        message["Date"] = format_datetime(at)
        message["X-Pmsync-Idempotency-Key"] = key
        server = f"{st.smtp_host}:{st.smtp_port}"
        try:
            smtp = (
                smtplib.SMTP_SSL(
                    st.smtp_host, st.smtp_port, timeout=self.timeout, context=self._tls()
                )
                if st.implicit_tls
                else smtplib.SMTP(st.smtp_host, st.smtp_port, timeout=self.timeout)
            )
            with smtp:
                smtp.ehlo()
                if st.uses_starttls:
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if st.username:
                    smtp.login(st.username, st.password.reveal() if st.password else "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as err:
            raise PermanentDeliveryError(
                f"{server} refused the login of {st.username!r} (SMTP {err.smtp_code})"
            ) from err
        except smtplib.SMTPNotSupportedError as err:
            raise PermanentDeliveryError(f"{server} does not support it: {err}") from err
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            what = f"{server} refused every recipient"
            raise _classify(min(codes, default=550), what, err) from err
        except smtplib.SMTPResponseException as err:
            reply = (
                err.smtp_error.decode("utf-8", "replace")
                if isinstance(err.smtp_error, bytes)
                else str(err.smtp_error)
            )
            raise _classify(
                err.smtp_code, f"{server} answered: {one_line(reply, 200)}", err
            ) from err
        except ssl.SSLCertVerificationError as err:
            raise PermanentDeliveryError(
                f"{server}: certificate not trusted ({err.verify_message}); set ca_file"
            ) from err
        except (smtplib.SMTPException, OSError) as err:
            raise TransientDeliveryError(f"cannot deliver through {server}: {err}") from err
        if refused:
            log.warning("%s refused some recipients of %s: %s", server, key, ", ".join(refused))
