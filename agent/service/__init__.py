"""The running agent process: runtime, local web (health, metrics), watchdog, sd_notify,
remote commands and doctor checks."""
