package checks

const pluginDir = "/usr/lib/nagios/plugins"
