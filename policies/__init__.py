"""Pure decisions and rules, no I/O: the dialogue policy, every sentence residents read,
the taxonomy, ticket statuses and wording, place keys and problem clusters."""
