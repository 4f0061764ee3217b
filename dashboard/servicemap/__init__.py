"""The service map: who publishes what to whom, how often, how many fail, how long events wait."""
