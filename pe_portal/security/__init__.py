"""Security primitives every feature may use: password hashing (bcrypt off the event loop),
access and refresh tokens, and the signing keys. They know no feature and no framework."""
