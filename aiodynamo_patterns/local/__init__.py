"""Local DynamoDB servers on one launcher base: the embedded moto server (the default),
dynalite and DynamoDB Local.
"""

__all__: list[str] = []
