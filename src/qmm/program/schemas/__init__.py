"""The program's records in their one JSON shape, one module per sub-area, each imported alone
(the API and `--format json` use them; nothing here is loaded unless a command needs it)."""
