package io.psgivassal.emperor.monitor;

import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.MonitorSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * uWSGI's emperor_check_on_demand_socket: which socket, if any, a config file's vassal waits on.
 * With an extension, the file CONFIG + EXT (appended as is) holds the address up to its first
 * control character; with a directory, the address is DIR/NAME.socket. The extension wins when
 * both are set, as in uWSGI.
 */
final class OnDemandSockets {
  private OnDemandSockets() {}

  /** The file holding the address, when the extension rule applies. */
  static Optional<Path> addressFile(Path config, MonitorSettings settings) {
    return settings.onDemandExtension().map(ext -> config.resolveSibling(config.getFileName() + ext));
  }

  static Optional<ListenAddress> resolve(Path config, MonitorSettings settings) throws IOException {
    Optional<Path> file = addressFile(config, settings);
    if (file.isPresent()) {
      String text;
      try {
        text = Files.readString(file.get(), StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        return Optional.empty();
      }
      int end = 0;
      while (end < text.length() && text.charAt(end) >= 32) {
        end++;
      }
      String addr = text.substring(0, end).strip();
      if (addr.isEmpty()) {
        return Optional.empty();
      }
      try {
        return Optional.of(ListenAddress.parse(addr));
      } catch (IllegalArgumentException e) {
        throw new IOException(file.get() + ": " + e.getMessage(), e);
      }
    }
    if (settings.onDemandDirectory().isPresent()) {
      String name = config.getFileName().toString();
      int dot = name.lastIndexOf('.');
      if (dot < 0) {
        return Optional.empty();
      }
      Path socket = settings.onDemandDirectory().get().resolve(name.substring(0, dot) + ".socket");
      return Optional.of(ListenAddress.unix(socket));
    }
    return Optional.empty();
  }
}
