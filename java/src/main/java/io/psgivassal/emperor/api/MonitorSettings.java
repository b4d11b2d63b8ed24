package io.psgivassal.emperor.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * Options that uWSGI applies in its monitors.
 *
 * @param attributes keys of a config's {@code [emperor]} section collected as vassal attributes
 *     (--emperor-collect-attr, plus the key --emperor-fork-server-attr names)
 * @param onDemandExtension --emperor-on-demand-extension: the file named config + EXT holds the
 *     on-demand socket address (uWSGI appends EXT as is, so it usually starts with a dot)
 * @param onDemandDirectory --emperor-on-demand-directory: the socket is DIR/NAME.socket, NAME the
 *     config's file name without its extension
 * @param rescanInterval how often directory monitors rescan as a safety net (--emperor-freq)
 */
public record MonitorSettings(Set<String> attributes, Optional<String> onDemandExtension,
    Optional<Path> onDemandDirectory, Duration rescanInterval) {
  public MonitorSettings {
    attributes = Set.copyOf(attributes);
  }

  public static MonitorSettings defaults() {
    return new MonitorSettings(Set.of(), Optional.empty(), Optional.empty(), Defaults.RESCAN_INTERVAL);
  }
}
