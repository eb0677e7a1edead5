"""What an on-call engineer sees from the outside: Prometheus figures (/metrics), structured logs with a
request id, and readiness (/readyz). See the README's "Monitoring" section and docs/deployment.md."""
