"""Behavioural search (SNS): a cognitive graph that plans, executes and mutates until it finds a way."""
