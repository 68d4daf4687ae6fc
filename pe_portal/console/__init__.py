"""The account console: the pages people use (and the mails link to), server-rendered over the
same services as the API (DESIGN "Account console")."""
