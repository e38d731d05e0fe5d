"""Local DynamoDB servers on one launcher base: the embedded moto server (the default) and
dynalite.
"""

__all__: list[str] = []
