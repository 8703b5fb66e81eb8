"""A local stand-in for the provincial supervision platform (互联网医疗服务监管平台) that the
regulator feed reports to: it checks the signature and every record's SM3 digest, stores each
record once, and acknowledges per record. Development, tests and demos only: production
settings do not install it."""
