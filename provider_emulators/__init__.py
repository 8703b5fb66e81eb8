"""Local emulators of WeChat Pay and Alipay: their APIs, payer pages and callbacks."""
