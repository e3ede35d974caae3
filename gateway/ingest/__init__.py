"""MQTT in: paho on the asyncio loop, handing messages to the pipeline's inbox."""
