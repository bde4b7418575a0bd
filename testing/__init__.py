"""Test plumbing shared by tests/ and benchmarks/: fakes of the outside world and loopback
servers. Not part of the product: nothing in bot, nlu, policies, integrations or privacy
imports it (tests/test_layers.py checks), and the package build leaves it out."""
