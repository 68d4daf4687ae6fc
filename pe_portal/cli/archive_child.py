"""`python -m pe_portal.cli.archive_child`: the process in which a server archives the audit
months past retention (`ops.retention` starts it, nice 19, and talks to it over its standard
input and output). An entry point of its own, above every feature, because writing the
AUDIT_ARCHIVED row needs every mapped model loaded (an audit row's foreign key names users,
whose mapper names profiles, sessions and factors)."""

import sys

import pe_portal.models  # noqa: F401 - every mapper, as in a server
from pe_portal.ops.retention import child_main

if __name__ == "__main__":
    sys.exit(child_main())
