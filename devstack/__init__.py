"""Local-only tooling: the local Functions host, the Graph and Dataverse simulators, and the stack runner."""
