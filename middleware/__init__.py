"""The aiohttp layer: the middleware, the package's routes and the HTTP answers."""
