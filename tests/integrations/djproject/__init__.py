"""A Django 5 + Channels project set up as the README says, run under daphne by the tests."""
