"""The hierarchy and who is where: the site file (district → street → community → grid
→ building → unit), the device registry, the roster of people."""
