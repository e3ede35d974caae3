"""The simulator: virtual communities that speak to gridgate over MQTT, as real sensors do.

    site.py       generate a site file (district → … → unit, with door and smoke sensors);
                  read any site file back as a list of devices to simulate
    scenario.py   scripted incidents (door left open, smoke), from YAML or the command line
    behaviour.py  pure: devices + seed + start + scenario → the ordered messages to send
    truth.py      pure: the alerts gridgate should raise for those incidents (ground truth)
    night.py      the local night window (22:00-06:00) shared by traffic and ground truth
    topics.py     gridgate's native topic names
    publisher.py  sends the messages to a broker in real (or accelerated) time
    cli.py        `gridgate simulate site|plan|run`

It imports nothing from gridgate except the kind vocabulary (`sensors.kinds`): a bug in an
adapter or a rule must not be mirrored by the tool meant to catch it.
"""
