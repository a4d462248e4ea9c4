"""What the PII step replaces and with what (``filters.pii.params``): kept apart from the scrubber so that loading
the config does not import the regex and Arrow machinery."""

from __future__ import annotations

from pydantic import Field

from biomass.strict import StrictModel

VERSION = 1
KINDS = ("email", "ipv4", "ipv6", "phone")

# datatrove's defaults (example.com/org are maintained as examples; the IPs did not answer pings).
EMAIL_PLACEHOLDERS = ("email@example.com", "firstname.lastname@example.org")
IPV4_PLACEHOLDERS = ("22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11",
                     "18.104.22.168")
# Ours: the IPv6 documentation prefix (RFC 3849) and numbers reserved for fiction (NANP 555-01xx, Ofcom 020 7946).
IPV6_PLACEHOLDERS = ("2001:db8::1", "2001:db8:85a3::8a2e:370:7334")
PHONE_PLACEHOLDERS = ("+1 202-555-0100", "+44 20 7946 0000")


class PIIParams(StrictModel):
    """What to replace and with what. Placeholders are used in a circle within each document."""


    email: bool = True
    ip: bool = Field(True, description="IPv4 and IPv6 addresses")
    phone: bool = True
    only_public_ips: bool = Field(True, description="replace only addresses ipaddress calls global (datatrove's "
                                  "default): private, loopback, documentation and reserved ranges stay")
    email_replacement: tuple[str, ...] = Field(EMAIL_PLACEHOLDERS, min_length=1)
    ipv4_replacement: tuple[str, ...] = Field(IPV4_PLACEHOLDERS, min_length=1)
    ipv6_replacement: tuple[str, ...] = Field(IPV6_PLACEHOLDERS, min_length=1)
    phone_replacement: tuple[str, ...] = Field(PHONE_PLACEHOLDERS, min_length=1)
