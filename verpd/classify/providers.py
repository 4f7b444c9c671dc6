"""Receiving providers whose replies mean something specific: their documented codes, as data.

Large providers answer with their own codes and wordings, documented on their
postmaster pages; where such a reply would be misread by the generic rules (a "User
unknown" that is really a reception filter, a 5.1.1 that is really a rate limit), the
provider's own meaning has the last word. A provider is recognised by the remote or
reporting MTA's host name (a filtering gateway reports for the domains behind it) or by
the recipient's domain. The rules themselves live in ``verpd.classify.provider_rules``,
one tuple per provider, each row with where the provider documents it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from verpd.model import Reason


@dataclass(frozen=True)
class Rule:
    """One documented reply of one provider: a status prefix (or any), its words, its meaning."""

    status: str | None  # the status code: exactly "5.4.1", a family "5.7." (prefix), "5.7.6xx" (x: any digit), or None for any
    pattern: str  # regex over the lower-cased, blank-collapsed diagnostic
    reason: Reason
    source: str  # the provider's page (and section) that documents this reply


@dataclass(frozen=True)
class Provider:
    name: str
    hosts: str  # regex over host names and the recipient's domain, each read whole
    rules: tuple[Rule, ...]

    @cached_property
    def host_regex(self) -> re.Pattern[str]:
        return re.compile(f"(?:{self.hosts})")

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(rule.pattern) for rule in self.rules)


_CACHE_SIZE = 4096  # host names remembered; real traffic names few remote MTAs


@dataclass(frozen=True)
class Match:
    """The provider rule that decided: its reason, a reference to it and its provenance."""

    reason: Reason
    ref: str  # "google#3": the provider and the rule's index
    source: str


class ProviderTable:
    """Finds the provider of a reply, then its first rule that fits."""

    def __init__(self, providers: tuple[Provider, ...]) -> None:
        self.providers = providers

    @cached_property
    def _any(self) -> re.Pattern[str]:
        # One search over all providers' host patterns rules most replies out at once.
        # With MULTILINE each host, one per line, is matched from its own start to its own end.
        return re.compile("|".join(f"(?:{p.hosts})" for p in self.providers), re.MULTILINE)

    def provider_of(self, hosts: tuple[str | None, ...]) -> Provider | None:
        """The first provider (in table order) that any of ``hosts`` belongs to."""
        for host in hosts:
            if host and (provider := self._provider_of_host(host)) is not None:
                return provider
        return None

    def _provider_of_host(self, host: str) -> Provider | None:
        cache = self._cache
        if host in cache:
            return cache[host]
        name = host.lower().rstrip(".")
        found = None
        if self._any.search(name):
            found = next((p for p in self.providers if p.host_regex.search(name)), None)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()  # bounded: a stream of made-up host names cannot grow it
        cache[host] = found
        return found

    @cached_property
    def _cache(self) -> dict[str, Provider | None]:
        return {}

    def match(self, remote_mta: str | None, reporting_mta: str | None, address: str, text: str, status: str | None) -> Match | None:
        """The provider's meaning for this reply, if a known provider refused (or reported on) the mail.

        The refusing server's provider is asked first (Remote-MTA), then the recipient's
        domain's (a relay may not name the remote host), then the reporting MTA's (a
        filtering gateway reports for the domains behind it).
        """
        if not text:
            return None
        tried: list[Provider] = []
        for host in (remote_mta, address.rpartition("@")[2], reporting_mta):
            provider = self.provider_of((host,))
            if provider is None or provider in tried:
                continue
            tried.append(provider)
            for i, (rule, regex) in enumerate(zip(provider.rules, provider.compiled, strict=True)):
                if (rule.status is None or _fits(rule.status, status)) and regex.search(text):
                    return Match(rule.reason, f"{provider.name}#{i}", f"{provider.name}: {rule.source}")
        return None


def _fits(wanted: str, status: str | None) -> bool:
    """Whether ``status`` is the code a rule names: exactly, as a family ("5.7."), or with x for any digit."""
    if not status:
        return False
    if wanted.endswith("."):
        return status.startswith(wanted)
    if "x" in wanted:
        return len(status) == len(wanted) and all(w == "x" and s.isdigit() or w == s for w, s in zip(wanted, status))
    return status == wanted


def _table() -> ProviderTable:
    from verpd.classify.provider_rules import PROVIDERS

    return ProviderTable(PROVIDERS)


TABLE = _table()
match = TABLE.match
