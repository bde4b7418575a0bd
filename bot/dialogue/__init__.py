"""The conversation: NLU parse + dialogue policy + the services that carry out decisions."""
