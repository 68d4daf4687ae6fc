"""pe-portal: accounts, authentication, sessions, profiles and audit trail of an Investor Portal."""

__version__ = "0.1.0"
