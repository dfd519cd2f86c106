"""The Power Automate custom connector: generated definition files and their generator."""
