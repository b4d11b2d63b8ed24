package io.psgivassal.emperor.api;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a vassal is, immutable: its name (unique within an Emperor, uWSGI's vassal id), where its
 * config comes from, how it is started, an optional on-demand socket, and attributes (uWSGI's
 * vassal attributes, e.g. the one {@code --emperor-fork-server-attr} names).
 *
 * <p>Two specs are equal when every part is; a monitor that hands the Emperor a spec equal to the
 * current one (and the same modification time) changes nothing.
 */
public record VassalSpec(String name, Config config, Start start, Optional<ListenAddress> onDemand,
    Map<String, String> attributes) {

  /** Config file extensions the Emperor accepts, with the flag uWSGI passes for each. */
  private static final List<Map.Entry<String, String>> FLAGS = List.of(
      Map.entry(".ini", "--ini"), Map.entry(".xml", "--xml"), Map.entry(".yml", "--yaml"),
      Map.entry(".yaml", "--yaml"), Map.entry(".js", "--json"), Map.entry(".json", "--json"));
  /** uWSGI keeps vassal names in char[0xff]. */
  private static final int MAX_NAME = 254;

  /** Where the config comes from. */
  public sealed interface Config permits FileConfig, TextConfig {}

  /** A file the vassal reads itself; its name goes in argv. */
  public record FileConfig(Path path) implements Config {
    public FileConfig {
      path = path.toAbsolutePath().normalize();
    }
  }

  /** Text sent over the config pipe (one packet, so at most 65535 bytes); argv says {@code emperor://NAME}. */
  public record TextConfig(String text) implements Config {
    public TextConfig {
      Objects.requireNonNull(text, "text");
      int n = text.getBytes(StandardCharsets.UTF_8).length;
      if (n > 0xFFFF) {
        throw new IllegalArgumentException("config text is " + n + " bytes; the config pipe carries at most 65535");
      }
    }

    @Override
    public String toString() {
      return "TextConfig[" + text.length() + " chars]";
    }
  }

  /** How a process is obtained for the vassal. */
  public sealed interface Start permits EmperorDefault, Plain, ForkServer {}

  /**
   * Decided by the Emperor when the vassal starts, as uWSGI does: the fork server named by the
   * fork-server attribute, else posix_spawn for a fork base, else the default fork server, else
   * posix_spawn.
   */
  public record EmperorDefault() implements Start {}

  /** posix_spawn by the Emperor (a base vassal). */
  public record Plain() implements Start {}

  /** Adopted from the fork server listening on {@code socket}. */
  public record ForkServer(Path socket) implements Start {
    public ForkServer {
      socket = socket.toAbsolutePath().normalize();
    }
  }

  public VassalSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(start, "start");
    Objects.requireNonNull(onDemand, "onDemand");
    attributes = Map.copyOf(new LinkedHashMap<>(attributes));
    checkName(name);
  }

  /** A vassal named after its config file, started the Emperor's default way. */
  public static VassalSpec ofFile(Path config) {
    return new VassalSpec(config.getFileName().toString(), new FileConfig(config), new EmperorDefault(),
        Optional.empty(), Map.of());
  }

  /** A vassal whose config text travels over the config pipe; {@code name} must end in .ini (or .xml, ...). */
  public static VassalSpec ofText(String name, String text) {
    return new VassalSpec(name, new TextConfig(text), new EmperorDefault(), Optional.empty(), Map.of());
  }

  public VassalSpec withStart(Start s) {
    return new VassalSpec(name, config, s, onDemand, attributes);
  }

  public VassalSpec withOnDemand(String address) {
    return new VassalSpec(name, config, start, Optional.of(ListenAddress.parse(address)), attributes);
  }

  public VassalSpec withOnDemand(Optional<ListenAddress> address) {
    return new VassalSpec(name, config, start, address, attributes);
  }

  public VassalSpec withAttributes(Map<String, String> attrs) {
    return new VassalSpec(name, config, start, onDemand, attrs);
  }

  public VassalSpec withConfig(Config c) {
    return new VassalSpec(name, c, start, onDemand, attributes);
  }

  public Optional<Path> configPath() {
    return config instanceof FileConfig f ? Optional.of(f.path()) : Optional.empty();
  }

  /** Whether {@code fileName} is a config the Emperor takes, by extension and length (uwsgi_emperor_is_valid). */
  public static boolean isValidConfigName(String fileName) {
    return fileName.length() <= MAX_NAME && FLAGS.stream().anyMatch(e -> fileName.endsWith(e.getKey()));
  }

  /** The option uWSGI puts before the config name in argv, chosen by extension. */
  public String configFlag() {
    return FLAGS.stream().filter(e -> name.endsWith(e.getKey())).map(Map.Entry::getValue).findFirst().orElseThrow();
  }

  /** What argv names: the config file, or emperor://NAME for config-pipe text. */
  public String configArgument() {
    return config instanceof FileConfig f ? f.path().toString() : "emperor://" + name;
  }

  static List<String> configExtensions() {
    return FLAGS.stream().map(Map.Entry::getKey).toList();
  }

  private static void checkName(String name) {
    if (name.isEmpty() || name.contains("/") || name.contains("\0") || name.equals(".") || name.equals("..")) {
      throw new IllegalArgumentException("vassal name '" + name + "' must be a plain file name");
    }
    if (!isValidConfigName(name)) {
      throw new IllegalArgumentException("vassal name '" + name + "' must end in " + String.join(", ", configExtensions())
          + " and be at most " + MAX_NAME + " characters (it selects the vassal's config flag, as in uWSGI)");
    }
  }
}
