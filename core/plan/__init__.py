"""Plans made before a run: device detection, speed and memory presets, memory and time estimates."""
