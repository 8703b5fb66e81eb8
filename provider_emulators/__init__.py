"""Local emulators of WeChat Pay, Alipay and the courier."""
