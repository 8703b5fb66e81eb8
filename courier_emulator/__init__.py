"""A local stand-in for the courier: waybills, their tracking, and signed callbacks to the
platform. Development, tests and demos only: production settings do not install it."""
