"""The evidence index: items linking to definitive records, their files, coverage and bundle."""
